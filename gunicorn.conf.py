"""Gunicorn for Plumb: `gunicorn -c gunicorn.conf.py` from the repository root (or /app).

Every value comes from the environment, with gunicorn's own conventions: PORT (default 8000)
on 0.0.0.0, WEB_CONCURRENCY workers (default 2 × cores + 1, at most 8), and proxies trusted
for X-Forwarded-* only when FORWARDED_ALLOW_IPS names them.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.env import env_int, env_str, load_settings_or_exit

# Refuse bad configuration in the master, with one line, before any worker boots (a worker
# failing on import would only be respawned, over and over).
load_settings_or_exit("Plumb's web server")

wsgi_app = "config.wsgi:application"
bind = [f"0.0.0.0:{env_int('PORT', default=8000)}"]
workers = env_int("WEB_CONCURRENCY", default=min(2 * multiprocessing.cpu_count() + 1, 8))
threads = env_int("GUNICORN_THREADS", default=1)
# A request that takes longer than this is stuck: the worker is killed and replaced.
timeout = env_int("GUNICORN_TIMEOUT", default=60)
# SIGTERM: finish the requests in flight for up to this long, then exit (docker stop waits 10 s
# by default; compose gives web 30 s).
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", default=25)
keepalive = 5
# Recycle workers now and then, so a slow leak cannot grow without bound; jitter keeps them
# from restarting all at once.
max_requests = env_int("GUNICORN_MAX_REQUESTS", default=1000)
max_requests_jitter = env_int("GUNICORN_MAX_REQUESTS_JITTER", default=100)
# Only the proxies named here may set X-Forwarded-For / -Proto for gunicorn: none by default
# (gunicorn's own default trusts 127.0.0.1, so any local client could claim HTTPS).
forwarded_allow_ips = env_str("FORWARDED_ALLOW_IPS")
# Access log to stdout, error log to stderr, each line with the request id.
accesslog = "-"
errorlog = "-"
loglevel = env_str("LOG_LEVEL", "info").lower()
access_log_format = (
    '%(h)s - %(u)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s" [%({x-request-id}o)s]'
)
if env_str("LOG_FORMAT", "plain").lower() == "json":
    # One JSON object per line from gunicorn too, through Plumb's formatter.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "config.log.RequestIdFilter"}},
        "formatters": {"json": {"()": "config.log.JsonFormatter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": "ext://sys.stdout",
            },
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            },
        },
        # gunicorn merges this over its defaults shallowly: name the root logger too.
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        },
    }
    access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# The container's filesystem may be read-only apart from /tmp; heartbeat files go to memory.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
