from __future__ import annotations

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# What is loaded by now (Django, the URLconf, every model) lives as long as the process: keep
# it out of the cyclic collector's scans, and collect young objects less often. A 1,000-record
# API batch allocates a few hundred thousand short-lived objects; with the default thresholds
# the collector ran dozens of times per request (~10 % of an event batch's time).
gc.freeze()
gc.set_threshold(50_000, 20, 20)
