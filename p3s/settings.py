"""Django settings for p3s: everything comes from the environment (see docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from p3s.env import env_bool, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("P3S_VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_secret("P3S_SECRET_KEY", VAR_DIR)
DEBUG = env_bool("P3S_DEBUG", False)
ALLOWED_HOSTS = env_list("P3S_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("P3S_CSRF_TRUSTED_ORIGINS", "")

# Behind a TLS reverse proxy (docs/deployment.md): the proxy says the request came over
# https (X-Forwarded-Proto, which it must set itself and never pass through from a client),
# cookies are sent over https only, plain http is redirected (the health check and the
# metrics excepted, for probes that speak plain http to the server), and browsers are told
# to use https only (HSTS). `manage.py check --deploy` is clean with P3S_TLS=1.
TLS = env_bool("P3S_TLS", False)
if TLS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("P3S_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("P3S_HSTS_SECONDS", 365 * 24 * 3600, 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("P3S_HSTS_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("P3S_HSTS_PRELOAD", True)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"  # the bokeh product frame alone is SAMEORIGIN (its own decorator)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

DATABASE_URL = env_str("P3S_DATABASE_URL", f"sqlite:///{VAR_DIR / 'p3s.sqlite3'}")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("P3S_CONN_MAX_AGE", 60, 0))
# A persistent connection cut under us (database restarted) is replaced at the next request,
# not reused to answer 500s until CONN_MAX_AGE runs out.
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] in ("django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"):
    # Django's back end with the health check run at most every P3S_CONN_CHECK_SECONDS
    # instead of before every request (p3s/postgres/base.py).
    _db["ENGINE"] = "p3s.postgres"
if _db["ENGINE"] == "django.db.backends.sqlite3":
    Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE transactions take the write lock at BEGIN: the claim and every state change
    # are serialised, which is the SQLite equivalent of row locks. WAL lets readers go on.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _db["CONN_MAX_AGE"] = 0
DATABASES = {"default": _db}

DATA_ROOT = Path(env_str("P3S_DATA_ROOT", str(VAR_DIR / "data"))).resolve()
MEDIA_ROOT = DATA_ROOT / "products"
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"

# Prompt-processing knobs (all documented in docs/configuration.md).
P3S = {
    "HEARTBEAT_INTERVAL": env_float("P3S_HEARTBEAT_INTERVAL", 10.0, 0.1),
    "LOST_AFTER_BEATS": env_float("P3S_LOST_AFTER_BEATS", 3.0, 1.0),
    "DISPATCH_GRACE": env_float("P3S_DISPATCH_GRACE", 60.0, 0.1),
    # After the API server could not hear pilots for S seconds (restart, database outage),
    # min(S, OUTAGE_GRACE) extra seconds before any pilot is declared lost (p3s.pilots.beacon):
    # requests sent meanwhile wait in the backlog or hang until the pilot's 30 s read timeout.
    "OUTAGE_GRACE": env_float("P3S_OUTAGE_GRACE", 30.0, 0.0),
    "TIMEOUT_GRACE": env_float("P3S_TIMEOUT_GRACE", 30.0, 0.0),
    "MAX_WAIT": env_float("P3S_MAX_WAIT", 60.0, 0.0),
    "WAKEUP_RECHECK": env_float("P3S_WAKEUP_RECHECK", 5.0, 0.05),
    "SWEEP_INTERVAL": env_float("P3S_SWEEP_INTERVAL", 2.0, 0.05),
    # /healthz?deep=1 answers 503 when the sweeper's last completed pass is older than this.
    "SWEEP_LATE": env_float("P3S_SWEEP_LATE", 60.0, 1.0),
    "RETENTION_INTERVAL": env_float("P3S_RETENTION_INTERVAL", 60.0, 0.0),
    # p3s.quality.freshness: DQM latency budget, DAQ silence limit, gap that ends a run (s).
    "LATENCY_BUDGET": env_float("P3S_LATENCY_BUDGET", 600.0, 1.0),
    "DAQ_SILENCE": env_float("P3S_DAQ_SILENCE", 300.0, 1.0),
    "RUN_GAP": env_float("P3S_RUN_GAP", 3600.0, 1.0),
    "PUBLIC_PAGES": env_bool("P3S_PUBLIC_PAGES", False),
    "MAX_UPLOAD_BYTES": env_int("P3S_MAX_UPLOAD_BYTES", 20 * 1024 * 1024, 1),
    # Request bodies refused by their Content-Length before they are read (p3s.api.middleware).
    "MAX_BODY_BYTES": env_int("P3S_MAX_BODY_BYTES", 4 * 1024 * 1024, 1024),
    "MAX_DAG_BYTES": env_int("P3S_MAX_DAG_BYTES", 256 * 1024, 1024),
    "LOG_TAIL_CHARS": env_int("P3S_LOG_TAIL_CHARS", 8000, 100),
    # Full job logs (p3s.logs): the biggest log the pilot sends whole, and the server takes.
    "LOG_MAX_BYTES": env_int("P3S_LOG_MAX_BYTES", 20 * 1024 * 1024, 1024),
    "REFERENCE_MAX_AGE_DAYS": env_float("P3S_REFERENCE_MAX_AGE_DAYS", 30.0, 0.0),
    # Circuit breaker (p3s.jobs.breaker): more than BREAKER_FAILURES failures of one stage,
    # outnumbering its successes, within BREAKER_WINDOW seconds pause it (0: never).
    "BREAKER_FAILURES": env_int("P3S_BREAKER_FAILURES", 10, 0),
    "BREAKER_WINDOW": env_float("P3S_BREAKER_WINDOW", 3600.0, 1.0),
    # Pilot hot path: seconds a pilot token stays cached per process (p3s.accounts.token_cache).
    "TOKEN_CACHE_SECONDS": env_float("P3S_TOKEN_CACHE_SECONDS", 5.0, 0.0),
    # Each server process keeps which condition versions are current (p3s.conditions.current),
    # dropped when one is written; off: every claim reads the table.
    "CONDITIONS_CACHE": env_bool("P3S_CONDITIONS_CACHE", True),
    # Requests one server process works on at once; more wait for a slot (p3s.api.admission).
    "ACTIVE_REQUESTS": env_int("P3S_ACTIVE_REQUESTS", 0, 0),
    # Seconds between health checks of a persistent PostgreSQL connection (p3s.postgres).
    "CONN_CHECK_SECONDS": env_float("P3S_CONN_CHECK_SECONDS", 10.0, 0.0),
    # A plainly valid heartbeat is answered before the API's own stack (p3s.api.beat_lane).
    "BEAT_LANE": env_bool("P3S_BEAT_LANE", True),
    # A file announcement on PostgreSQL is two statements (p3s.dags.announce_sql).
    "LEAN_ANNOUNCE": env_bool("P3S_LEAN_ANNOUNCE", True),
    # Payload exit codes that mean "this input will never work": failed, not retried.
    "NO_RETRY_EXIT_CODES": [int(c) for c in env_list("P3S_NO_RETRY_EXIT_CODES", "2,127")],
}

# Staging areas for job outputs (p3s.staging, docs/storage.md): a primary and an optional
# fallback by URL; the primary '' means file://<DATA_ROOT>/outputs.
STAGING = {
    "PRIMARY": env_str("P3S_STAGING_PRIMARY", ""),
    "FALLBACK": env_str("P3S_STAGING_FALLBACK", ""),
    "FULL_FRACTION": env_float("P3S_STAGING_FULL_FRACTION", 0.9, 0.0),
    "DOWN_AFTER": env_int("P3S_STAGING_DOWN_AFTER", 1, 1),
    "UP_AFTER": env_int("P3S_STAGING_UP_AFTER", 3, 1),
    "PROBE_INTERVAL": env_float("P3S_STAGING_PROBE_INTERVAL", 10.0, 0.0),
    "PROBE_TIMEOUT": env_float("P3S_STAGING_PROBE_TIMEOUT", 5.0, 0.1),
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served by us: /api/docs/ works offline
    "p3s.accounts",
    "p3s.dags",
    "p3s.bus",  # optional message bus (P3S_BUS_URL); off by default
    "p3s.jobs",
    "p3s.pilots",
    "p3s.dqm",
    "p3s.logs",
    "p3s.conditions",
    "p3s.quality",
    "p3s.archive",  # retention of outputs, archive copies, pruning of old rows
    "p3s.staging",  # staging areas for outputs, their probe and failover
    "p3s.api",
    "p3s.front",
]

MIDDLEWARE = [
    "p3s.api.admission.ActiveRequests",  # a bound on requests worked on at once (per process)
    "p3s.api.middleware.ApiLimits",  # size limits before anything reads the body
    "django.middleware.security.SecurityMiddleware",
    "p3s.front.csp.ContentSecurityPolicy",  # pages only; see p3s/front/csp.py
    "p3s.api.beat_lane.BeatLane",  # a plain heartbeat, answered here (PostgreSQL)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "p3s.urls"
WSGI_APPLICATION = "p3s.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "p3s.accounts.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["p3s.accounts.roles.IsOperator"],
    "DEFAULT_PARSER_CLASSES": [
        "p3s.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "p3s.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "p3s.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "p3s API",
    "DESCRIPTION": "Prompt processing for detector data-quality monitoring.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "JobStateEnum": "p3s.jobs.states.JobState",
        "DagRunStateEnum": "p3s.dags.models.DagRunState",
        "PilotStateEnum": "p3s.pilots.models.PilotState",
        "AlarmStateEnum": "p3s.dqm.models.AlarmState",
        "ReportStateEnum": "p3s.jobs.actions.REPORTABLE",
        "QualityFlagEnum": "p3s.quality.models.Flag",
        "SignoffVerdictEnum": "p3s.quality.models.Verdict",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("P3S_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
