"""ETL Portal settings: everything comes from environment variables (12-factor).

Every variable is listed with its default in README.md ("Configuration").
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from etlportal import localsecrets
from etlportal.envvars import env_bool

BASE_DIR = Path(__file__).resolve().parent.parent


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None


DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(os.environ.get("DATA_DIR") or BASE_DIR / "data").resolve()
LOCAL_SECRETS_FILE = DATA_DIR / "secrets.env"


def _secret(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if DEBUG:
        return localsecrets.load_or_create(LOCAL_SECRETS_FILE)[name]
    raise ImproperlyConfigured(
        f"{name} is not set. Set it in the environment (see README, Configuration), "
        f"or use `make run`, which generates local keys into {LOCAL_SECRETS_FILE}."
    )


SECRET_KEY = _secret("SECRET_KEY")
# A comma-separated list rotates keys: the first encrypts, all of them decrypt.
FIELD_ENCRYPTION_KEY = [key.strip() for key in _secret("FIELD_ENCRYPTION_KEY").split(",") if key.strip()]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
if env_bool("TRUST_X_FORWARDED_PROTO"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "django_htmx",
    "encrypted_model_fields",
    "credentials",
    "jobs",
    "runs",
    "etlportal",  # management commands (ensure_admin)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "etlportal.urls"
ASGI_APPLICATION = "etlportal.asgi.application"

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
            ],
        },
    },
]

# Database: SQLite in DATA_DIR unless DATABASE_URL says otherwise. Web, worker and beat
# share the SQLite file, so WAL (readers never block the writer), IMMEDIATE transactions
# (no lock upgrade deadlocks) and a generous busy timeout avoid "database is locked".
_database_url = os.environ.get("DATABASE_URL", "").strip() or f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or DATA_DIR / "static")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or DATA_DIR / "uploads")
MEDIA_URL = "media/"  # never served: uploads are read through the storage API only
STORAGES = {
    # Uploads go through Django's storage API so a worker on another machine can read
    # them from shared storage (a volume here, S3-compatible storage via django-storages).
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": MEDIA_ROOT}},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Uploads larger than this are streamed to a temporary file, never held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# The largest file a user may upload (bytes); bigger ones are refused before they are read.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 2 * 1024**3)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

REDIS_URL = os.environ.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# Run state lives in JobRun rows, not in a result backend.
CELERY_TASK_IGNORE_RESULT = True
# Loads are long: take one task at a time, acknowledge it when done. A redelivered
# task finds its run no longer PENDING and does nothing.
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "").strip() or "etlportal"
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "reap-stale-runs": {"task": "runs.tasks.reap_stale_runs", "schedule": 60.0},
    "reap-stalled-scans": {"task": "jobs.tasks.reap_stalled_scans", "schedule": 60.0},
    "clean-trial-jobs": {"task": "jobs.tasks.clean_trial_jobs", "schedule": 600.0},
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": CELERY_TASK_DEFAULT_QUEUE + ":asgi"},
    }
}

# A RUNNING run whose worker has not sent a heartbeat for this long is marked FAILED.
RUN_HEARTBEAT_INTERVAL = env_int("RUN_HEARTBEAT_INTERVAL", 10)
RUN_HEARTBEAT_TIMEOUT = env_int("RUN_HEARTBEAT_TIMEOUT", 300)
if RUN_HEARTBEAT_TIMEOUT <= 2 * RUN_HEARTBEAT_INTERVAL:
    raise ImproperlyConfigured("RUN_HEARTBEAT_TIMEOUT must be more than twice RUN_HEARTBEAT_INTERVAL")
# A queued or running full pass over an upload whose progress has not moved for this long has
# lost its worker (or its queue message). Progress is written every 50,000 rows, seconds apart
# even for wide rows, so ten minutes without any is no slow file.
SCAN_STALL_TIMEOUT = env_int("SCAN_STALL_TIMEOUT", 600)
# PostgreSQL loads take a fast path when every mapping allows it: a clean UTF-8 file is read with
# Arrow and converted a block at a time; other files are converted by the server. A value a fast
# path does not convert exactly sends the load back to converting row by row in Python.
LOAD_FAST_PATH = env_bool("LOAD_FAST_PATH", True)
# A load waiting longer than this for a lock on its target table fails instead of hanging.
LOAD_LOCK_TIMEOUT = env_int("LOAD_LOCK_TIMEOUT", 60)
# The longest a run may take; then the worker stops it (soft limit) or kills it (hard limit).
RUN_TIME_LIMIT = env_int("RUN_TIME_LIMIT", 6 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = RUN_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = RUN_TIME_LIMIT + 60
# A worker process whose peak resident memory passed this during a task (a large load or a 1 GB
# inspection does) is replaced by a fresh one after it: what one file left behind never adds to
# the next load's peak. Celery compares the peak (ru_maxrss), not what the process still holds.
# 0: never replaced.
WORKER_MAX_MEMORY_MB = env_int("WORKER_MAX_MEMORY_MB", 200)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = WORKER_MAX_MEMORY_MB * 1024 or None  # Celery counts KiB
# DuckDB destinations are files inside this folder (on the worker); no other path is allowed.
DUCKDB_DIR = Path(os.environ.get("DUCKDB_DIR") or DATA_DIR / "duckdb").resolve()

# dbt: an uploaded project archive may unpack to at most this many bytes; runs work in temporary
# directories under DBT_WORK_DIR (the system's temporary folder when unset), never in the project.
DBT_ARCHIVE_MAX_BYTES = env_int("DBT_ARCHIVE_MAX_BYTES", 50 * 1024**2)
# Projects registered by directory must be inside one of these (comma-separated absolute paths):
# a user cannot point the worker at any folder of the server. Archives need no such place.
DBT_PROJECTS_DIRS = [Path(path) for path in env_list("DBT_PROJECTS_DIRS", str(DATA_DIR / "dbt"))]
DBT_WORK_DIR = os.environ.get("DBT_WORK_DIR", "").strip() or None
if DBT_WORK_DIR:
    Path(DBT_WORK_DIR).mkdir(parents=True, exist_ok=True)

# Alerts: links in e-mails and webhooks point at PORTAL_URL. E-mail goes through Django's backend:
# SMTP when EMAIL_HOST is set, else written to files under EMAIL_FILE_PATH (nothing is lost, nothing
# is sent by surprise), or EMAIL_BACKEND chosen outright.
PORTAL_URL = os.environ.get("PORTAL_URL", "").strip() or "http://localhost:8000"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "").strip()
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 20
EMAIL_FILE_PATH = Path(os.environ.get("EMAIL_FILE_PATH") or DATA_DIR / "mail")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "").strip() or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.filebased.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "").strip() or "ETL Portal <etlportal@localhost>"

REST_FRAMEWORK = {
    # Token first, so an anonymous API call gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "etlportal.api.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "etlportal.api.ShallowJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ETL Portal API",
    "DESCRIPTION": "Upload files, store destinations, define load jobs and trigger runs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.channels.server": {"level": "WARNING"},
    },
}
