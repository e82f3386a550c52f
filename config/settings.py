"""Plumb settings: one module, driven by environment variables (see .env.example).

Without DATABASE_URL / REDIS_URL Plumb runs embedded: SQLite and Celery's filesystem broker
under var/. With them set, the same code runs on PostgreSQL and Redis.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from whitenoise.compress import Compressor

from config.env import (
    admins,
    allowed_hosts,
    database_config,
    email_config,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_rate,
    env_str,
    oidc_apps_from_env,
    project_version,
    redis_url,
    secret_key,
    sentry_config,
    site_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PLUMB_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", default=False)
# Missing, short or Django's placeholder: refused unless DEBUG (config.env.secret_key).
SECRET_KEY = secret_key(env_str("SECRET_KEY"), debug=DEBUG)
# The version in pyproject.toml: the page footer, /healthz and error reports show it.
PLUMB_VERSION = project_version(BASE_DIR)
# Demo users share a known password: seed_demo runs only with this (default: DEBUG's value).
PLUMB_DEMO = env_bool("PLUMB_DEMO", default=DEBUG)

ALLOWED_HOSTS = allowed_hosts(debug=DEBUG)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "en-us"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    # Sign-in (signin/): allauth's accounts, two-factor, OpenID Connect and user sessions.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.usersessions",
    "crm.apps.CrmConfig",
    "webhooks.apps.WebhooksConfig",
    "activities.apps.ActivitiesConfig",
    "accounts.apps.AccountsConfig",
    "leads.apps.LeadsConfig",
    "pipeline.apps.PipelineConfig",
    "scoring.apps.ScoringConfig",
    "forecasting.apps.ForecastingConfig",
    "signin.apps.SigninConfig",
]

MIDDLEWARE = [
    # First: /livez answers before the host check, so the container's probe needs no Host.
    "config.static.LivenessMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "crm.middleware.ContentSecurityPolicyMiddleware",
    "crm.middleware.RequestSizeLimitMiddleware",
    "crm.middleware.AuditContextMiddleware",
    "config.static.StaticFilesMiddleware",  # whitenoise: hashed files cached a year
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crm.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Sign-in: allauth's request context, then session lifetime and two-factor enforcement.
    "allauth.account.middleware.AccountMiddleware",
    "signin.middleware.SignInPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "crm.middleware.UserTimezoneMiddleware",
    # Last, as django-axes requires: it answers locked-out logins.
    "axes.middleware.AxesMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "crm.auth_backends.LockoutBackend",  # django-axes: refuses locked-out username + IP pairs
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "crm.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "crm:dashboard"
LOGOUT_REDIRECT_URL = "login"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.context_processors.shell",
                "config.context_processors.version",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
try:  # SQLite, the filesystem broker, beat's schedule and backups live here
    VAR_DIR.mkdir(parents=True, exist_ok=True)
except OSError:
    if not DATABASE_URL:
        raise
DATABASES = {"default": database_config(DATABASE_URL, sqlite_path=str(VAR_DIR / "crm.sqlite3"))}
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
# Covering indexes (Index(include=…)) are PostgreSQL's; on SQLite they are plain indexes on
# their key columns, on purpose, so Django's "non-key columns will be ignored" is no news.
SILENCED_SYSTEM_CHECKS = [] if IS_POSTGRES else ["models.W040"]
# `make backup` / manage.py backup writes here (crm.backup).
BACKUP_DIR = Path(env_str("BACKUP_DIR") or VAR_DIR / "backups")

# --- Celery: at-least-once delivery; every task is idempotent -----------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CELERY_BROKER_URL = redis_url(REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "data_folder_processed": str(_broker_dir / "processed"),
        # Broadcast (control) exchanges too, or kombu writes ./control in the working dir.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Each entry expires before its next run so a backlog never piles up duplicate sweeps.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # --- crm ---
    "sweep-outbox": {
        "task": "crm.tasks.sweep_outbox_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "send-email-digests": {
        "task": "crm.tasks.send_email_digests_task",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 840},
    },
    "purge-old-job-runs": {
        "task": "crm.tasks.purge_old_job_runs_task",
        "schedule": crontab(minute=17, hour=3),
        "options": {"expires": 3600},
    },
    # --- leads / workers ---
    "assign-unassigned-leads": {
        "task": "leads.tasks.assign_unassigned_leads_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "send-due-reminders": {
        "task": "activities.tasks.send_due_reminders_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "check-first-contact-sla": {
        "task": "leads.tasks.check_first_contact_sla_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "recycle-zombie-leads": {
        "task": "leads.tasks.recycle_zombie_leads_task",
        "schedule": crontab(minute=41, hour=2),
        "options": {"expires": 3600},
    },
    "purge-lead-import-records": {
        "task": "leads.tasks.purge_import_records_task",
        "schedule": crontab(minute=41, hour=3),
        "options": {"expires": 3600},
    },
    # --- pipeline / workers ---
    "sweep-stale-opportunities": {
        "task": "pipeline.tasks.sweep_stale_opportunities_task",
        "schedule": crontab(minute=23),
        "options": {"expires": 3300},
    },
    # --- scoring ---
    "scoring-decay-engagement": {
        "task": "scoring.tasks.decay_engagement_task",
        "schedule": crontab(minute=40, hour=2),
        "options": {"expires": 3600},
    },
    # --- webhooks: deliveries are kicked after each commit; this picks up retries ---
    "deliver-due-webhooks": {
        "task": "webhooks.tasks.deliver_webhooks_task",
        "schedule": 10.0,
        "options": {"expires": 9},
    },
    "purge-webhook-log": {
        "task": "webhooks.tasks.purge_webhook_log_task",
        "schedule": crontab(minute=47, hour=3),
        "options": {"expires": 3600},
    },
    # --- forecasting ---
    "forecast-weekly-snapshot": {
        "task": "forecasting.tasks.take_weekly_snapshot_task",
        "schedule": crontab(minute=30, hour=0, day_of_week="mon"),
        "options": {"expires": 6 * 24 * 3600},
    },
}

# --- Cache: Redis when configured (shared by all processes), else the database-free local one
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- E-mail -----------------------------------------------------------------------------
# Every message goes through the outbox (crm.outbox): written with its cause, sent by workers.
globals().update(email_config(env_str("EMAIL_URL"), debug=DEBUG))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Plumb CRM <plumb@localhost>")
SITE_URL = site_url(env_str("SITE_URL", "http://localhost:8000"))
# Seconds any one SMTP command may take (connect, each command, the message itself).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", default=10, minimum=1)
# E-mails users send from the CRM: their own address as From when the relay allows it, else
# DEFAULT_FROM_EMAIL's address with their name (their address is the Reply-To either way).
EMAIL_FROM_USER = env_bool("EMAIL_FROM_USER", default=False)
# Before the subject of every message Plumb writes itself (not those users send).
EMAIL_SUBJECT_PREFIX = env_str("EMAIL_SUBJECT_PREFIX", "[Plumb]")
# A claimed batch belongs to its sender this long; a sender killed mid-batch leaves its rows
# to be claimed again (and resent with the same Message-ID) after it.
OUTBOX_LEASE_SECONDS = env_int("OUTBOX_LEASE_SECONDS", default=300, minimum=10)

# --- Outbound webhooks (webhooks/, README "Webhooks") --------------------------------------
# Targets on loopback, private, link-local or shared addresses are refused (the cloud metadata
# addresses always are) unless this is true; it also allows http:// targets, as DEBUG does.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "static/"
# Outside var/ in the image (read-only, root's), so a volume on var/ cannot hide it.
STATIC_ROOT = Path(env_str("STATIC_ROOT") or VAR_DIR / "static")
WHITENOISE_USE_FINDERS = DEBUG
# Templates only ever name files through {% static %} (hashed): keep just those, and compress
# (gzip + brotli) everything but source maps, which only a developer's tools fetch.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = [*Compressor.SKIP_COMPRESS_EXTENSIONS, "map"]
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024  # a 1,000-lead import batch fits easily
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Security: safe by default, relaxed only by DEBUG ----------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]
# Only a proxy we trust may say a request came over HTTPS: without one, a client could send
# X-Forwarded-Proto itself. On with TRUSTED_PROXY_COUNT > 0 unless SECURE_PROXY_SSL_HEADER says.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", default=0)
if env_bool("SECURE_PROXY_SSL_HEADER", default=TRUSTED_PROXY_COUNT > 0):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (crm.middleware): scripts only from our origin, never inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# Behind N reverse proxies that append to X-Forwarded-For, the client is the N-th from the right
# (TRUSTED_PROXY_COUNT, read above with the proxy SSL header).
# Bodies above these limits get a 413 (crm.middleware.RequestSizeLimitMiddleware).
MAX_UPLOAD_SIZE = env_int("MAX_UPLOAD_SIZE", default=100 * 1024 * 1024)
API_MAX_JSON_DEPTH = 32
# Login lockout (django-axes): per username + IP, database-backed so every process agrees.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "crm.views.errors.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "crm.auth_backends.axes_client_ip"
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["code"]  # failed two-factor codes are counted, never stored
# API token guessing: this many bad tokens per client IP per window → 429 + Retry-After.
API_AUTH_FAILURE_LIMIT = env_int("API_AUTH_FAILURE_LIMIT", default=10)
API_AUTH_FAILURE_WINDOW = 60
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Sign-in (signin/, README "Sign-in and security"): django-allauth does the flows ----------
# Password log-in is ours (/login/, django-axes counts failures); allauth runs the second step,
# OpenID Connect and the session list. Local sign-up is closed: admins create users.
ACCOUNT_ADAPTER = "signin.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "signin.adapters.SocialAccountAdapter"
MFA_ADAPTER = "signin.adapters.MFAAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_RATE_LIMITS = False  # django-axes counts failed passwords and codes (per username + IP)
ACCOUNT_LOGIN_TIMEOUT = 10 * 60  # password accepted, code not yet: this long
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"  # who may sign in is decided in signin.adapters
SOCIALACCOUNT_AUTO_SIGNUP = True  # only reached for just-in-time domains
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        # PKCE, nonce and an ID token signature checked against the JWKS: signin/oidc.py.
        "provider_class": "signin.oidc.PlumbOIDCProvider",
        "OAUTH_PKCE_ENABLED": True,
        "APPS": oidc_apps_from_env(),
    }
}
MFA_SUPPORTED_TYPES = ["totp"]  # recovery codes are signin's own (stored hashed)
MFA_TOTP_ISSUER = "Plumb CRM"
MFA_TOTP_PERIOD = 30
MFA_TOTP_DIGITS = 6
MFA_TOTP_TOLERANCE = 1  # the previous, current and next 30-second step
MFA_FORMS = {"authenticate": "signin.forms.SecondStepForm"}
USERSESSIONS_TRACK_ACTIVITY = False  # signin.sessions notes activity at most once a minute
# The session cookie outlives any absolute lifetime an admin can set; the policy ends it sooner.
SESSION_COOKIE_AGE = 90 * 24 * 3600
PASSWORD_RESET_LINK_MINUTES = env_int("PASSWORD_RESET_LINK_MINUTES", default=60)

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crm.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "crm.api.auth.HasTokenScope",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "crm.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["crm.api.filters.StrictFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "crm.api.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "EXCEPTION_HANDLER": "crm.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    # One schema name per choice set that several fields share (e.g. a lead's stage and the
    # transition's "to"), so the schema is stable and check --deploy stays quiet.
    "ENUM_NAME_OVERRIDES": {
        "LeadLifecycleEnum": "leads.models.Lead.Lifecycle",
        # A lead's source keeps its component name (the import's own is LeadRecordSourceEnum).
        "LeadSourceEnum": "leads.models.Lead.Source",
        # An activity's kind, in the activities API and in webhook payloads alike.
        "ActivityKindEnum": "activities.models.Activity.Kind",
    },
    "TITLE": "Plumb CRM API",
    "DESCRIPTION": "Leads, scoring events, pipelines, opportunities and forecasts. "
    "Authenticate with `Authorization: Bearer <token>` (Settings → API tokens). "
    "Webhooks (`/api/v1/webhooks/`) POST the payloads documented as the "
    "`WebhookEvent…` schemas (one per event type, also listed under `x-webhooks`), signed "
    "as the README's “Webhooks” section shows.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        # First: it adds components (the webhook payloads) that the enum hook then tidies.
        "webhooks.schema.document_webhook_payloads",
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crm.api.schema.document_error_responses",
    ],
}

# --- Logging: one line per event to stderr, each tagged with its request id (or task id) ------
LOG_FORMAT = env_choice("LOG_FORMAT", ("plain", "json"), default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.log.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "config.log.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # One line per webhook POST at INFO: the delivery log already records each attempt.
        "httpx": {"level": "WARNING"},
    },
}
# Django's own logging e-mails errors (500s) to ADMINS whenever DEBUG is off.
# Celery logs through the same handlers (request id = task id), not its own root logger;
# what tasks print (the console e-mail backend) stays plain stdout, not one log line per write.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_REDIRECT_STDOUTS = False
ADMINS = admins("ADMINS")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# --- API throttling: per token (or session user), per scope; 429 with Retry-After -------------
# Bad tokens are counted per client IP before authentication (crm.api.auth.AuthFailureGuard);
# these count what authenticated clients send. Views name their scope (`throttle_scope`).
API_THROTTLE_RATES: dict[str, str | None] = {
    "import": env_rate("API_RATE_IMPORT", default="120/min"),
    "events": env_rate("API_RATE_EVENTS", default="1200/min"),
    "api": env_rate("API_RATE_DEFAULT", default="1200/min"),
}
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["config.throttling.ScopedApiThrottle"]

# --- Error reporting: Sentry when SENTRY_DSN is set (pip install 'plumb-crm[sentry]') ---------
SENTRY_ENABLED = sentry_config(
    env_str("SENTRY_DSN"),
    release=PLUMB_VERSION,
    environment=env_str("SENTRY_ENVIRONMENT", "development" if DEBUG else "production"),
)
