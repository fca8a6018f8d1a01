"""Settings for creditplatform: one file, configured from the environment (django-environ).

With no environment at all this is the embedded demo: SQLite at ``var/db.sqlite3``,
local-memory cache, Celery eager and development secrets generated into ``var/``.
With ``DATABASE_URL``, ``REDIS_URL`` and ``CELERY_BROKER_URL`` it is the real platform.
With ``DJANGO_DEBUG=false`` it refuses to start without real secrets.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from creditplatform.devsecrets import dev_secret
from creditplatform.logging import configure_structlog, formatter_config, register_secrets

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
DEBUG = env.bool("DJANGO_DEBUG", default=True)


def _secret(name: str, dev_file: str) -> str:
    """A secret from the environment; in DEBUG only, a generated development value."""
    value = env.str(name, default="")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_DEBUG=false")
    return dev_secret(VAR_DIR, dev_file)


SECRET_KEY = _secret("DJANGO_SECRET_KEY", "django-secret-key")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "creditplatform.apps.PlatformAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "axes",
    "auditlog",
    "accounts",
    "ledger",
    "fraud",
    "compliance",
    "creditplatform.webhooks",  # outbox + partner webhooks (issue 9)
    "django_prometheus",
    "creditplatform.portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "creditplatform.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "axes.middleware.AxesMiddleware",
    "creditplatform.metrics.PlatformMetricsMiddleware",  # idempotent replays counter
    "compliance.middleware.AccessRefusalAuditMiddleware",  # 403s and foreign-object 404s
]

# django-prometheus: request metrics around everything else (first and last middleware).
MIDDLEWARE.insert(0, "django_prometheus.middleware.PrometheusBeforeMiddleware")
MIDDLEWARE.append("django_prometheus.middleware.PrometheusAfterMiddleware")

ROOT_URLCONF = "creditplatform.urls"
WSGI_APPLICATION = "creditplatform.wsgi.application"
ASGI_APPLICATION = "creditplatform.asgi.application"

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

# --- Database --------------------------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: a write transaction takes the database write lock at BEGIN, so the embedded
    # demo serializes writers instead of failing on lock upgrades (SQLite has no row locks).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DATABASES["default"]["ATOMIC_REQUESTS"] = False

# --- Fraud worker database role ---
# The scoring task reads and writes through FRAUD_DATABASE_URL: the same PostgreSQL database as
# the role made by `manage.py create_fraud_db_role` (SELECT of what scoring reads, INSERT of
# scores/alerts/audit rows). creditplatform.db_routers routes the worker's queries to this
# alias. Unset (embedded demo, test suite): no alias, the worker uses "default" as before.
FRAUD_WORKER_DB_ALIAS = "fraud"
if env.str("FRAUD_DATABASE_URL", default=""):
    DATABASES[FRAUD_WORKER_DB_ALIAS] = env.db("FRAUD_DATABASE_URL")
    if DATABASES[FRAUD_WORKER_DB_ALIAS]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("FRAUD_DATABASE_URL must be a postgres:// URL")
    DATABASES[FRAUD_WORKER_DB_ALIAS].update(
        CONN_MAX_AGE=env.int("DATABASE_CONN_MAX_AGE", default=60), CONN_HEALTH_CHECKS=True,
        ATOMIC_REQUESTS=False, TEST={"MIRROR": "default"},  # tests: the default test database
    )
DATABASE_ROUTERS = ["creditplatform.db_routers.FraudWorkerRouter"]
# --- end Fraud worker database role ---
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Cache (Redis is a fast path only: idempotent replays, throttles, in-flight locks) --------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.25,
                "SOCKET_TIMEOUT": 0.25,
            },
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="cp"),
        }
    }
    # Redis is a fast path: when it is down, cache calls answer "miss" instead of raising,
    # throttles let requests through, and the database decides (see ledger/idempotency.py).
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://localhost/")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER",
                                    default=CELERY_BROKER_URL.startswith("memory://"))
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Production guard only (docker-compose.yml sets it, far above a worker's normal size): replace a
# pool process whose resident set passed this many KiB. It would hide a leak from a
# measurement, so bench/soak.py and bench/worker_memory.py run without it (docs/reliability.md).
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=None)
# Worker processes return free heap pages to the OS after each task (creditplatform/celery.py).
WORKER_MALLOC_TRIM = env.bool("WORKER_MALLOC_TRIM", default=True)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE = {
    "idempotency-purge": {"task": "ledger.tasks.idempotency_purge", "schedule": 3600.0},
    "holds-expire": {"task": "ledger.tasks.holds_expire", "schedule": 60.0},
    "audit-seal": {"task": "compliance.tasks.audit_seal", "schedule": 300.0},
    "outbox-relay": {"task": "creditplatform.webhooks.tasks.outbox_relay_task",
                     "schedule": env.float("OUTBOX_RELAY_SECONDS", default=5.0)},
    "outbox-purge": {"task": "creditplatform.webhooks.tasks.outbox_purge_task",
                     "schedule": 3600.0},
    "webhooks-sweep": {"task": "creditplatform.webhooks.tasks.webhook_deliveries_sweep",
                       "schedule": 30.0},
}

# --- Outbox, webhooks, metrics (issue 9; docs/webhooks.md, docs/scaling.md) -----------------
# Outbox topic -> the Celery task the relay starts with the row's args/kwargs.
OUTBOX_ROUTES = {
    "fraud.score_entry": "fraud.tasks.score_entry",
    "webhooks.event": "creditplatform.webhooks.tasks.webhook_event_fanout",
}
# Topics the periodic relay publishes as ONE task per batch (the list of the rows' first
# arguments): one model prediction for many charges (bench/fraud.py: batch vs single task).
OUTBOX_BATCH_ROUTES = {"fraud.score_entry": "fraud.tasks.score_entries"}
# At most this many rows per task of a batch route (creditplatform.webhooks.outbox.batch_task_max):
# a relay run's 500 rows become several scoring tasks, each with a bounded working set.
OUTBOX_BATCH_TASK_MAX = env.int("OUTBOX_BATCH_TASK_MAX", default=100)
# After commit, the committing process publishes a charge's scoring task itself (lowest
# commit-to-score latency). False: only the relay (every OUTBOX_RELAY_SECONDS) publishes, in
# batches: fewer statements per charge and one prediction per batch (docker-compose.yml sets
# it for throughput, with OUTBOX_RELAY_SECONDS=1).
FRAUD_SCORING_NUDGE = env.bool("FRAUD_SCORING_NUDGE", default=True)
WEBHOOKS_MAX_ATTEMPTS = env.int("WEBHOOKS_MAX_ATTEMPTS", default=8)
WEBHOOKS_RETRY_BASE_SECONDS = env.float("WEBHOOKS_RETRY_BASE_SECONDS", default=15.0)
WEBHOOKS_RETRY_CAP_SECONDS = env.float("WEBHOOKS_RETRY_CAP_SECONDS", default=3600.0)
WEBHOOKS_CONNECT_TIMEOUT = env.float("WEBHOOKS_CONNECT_TIMEOUT", default=3.0)
WEBHOOKS_READ_TIMEOUT = env.float("WEBHOOKS_READ_TIMEOUT", default=5.0)
WEBHOOKS_SECRET_OVERLAP_SECONDS = env.int("WEBHOOKS_SECRET_OVERLAP_SECONDS", default=24 * 3600)
# Loopback and http for the integration test's local receiver only; never in production.
WEBHOOKS_ALLOW_PRIVATE_FOR_TESTS = env.bool("WEBHOOKS_ALLOW_PRIVATE_FOR_TESTS", default=False)
if WEBHOOKS_ALLOW_PRIVATE_FOR_TESTS and not DEBUG:
    raise ImproperlyConfigured("WEBHOOKS_ALLOW_PRIVATE_FOR_TESTS is refused outside DEBUG")
# /metrics: callers from these networks, or with "Authorization: Bearer <token>".
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS",
                                    default=["127.0.0.1/32", "::1/128"])
METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN", default="")

# --- Auth ------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# PCI DSS v4.0 8.3.4: lock a user id after at most 10 failed attempts, for at least 30 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each, separately
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "accounts.authentication.axes_username"  # PAN-like names masked
AXES_ENABLE_ADMIN = False  # attempts are security events in compliance.AuditEvent instead
# The admin needs a second factor (TOTP, django-otp) outside the embedded demo.
ADMIN_REQUIRE_OTP = env.bool("ADMIN_REQUIRE_OTP", default=not DEBUG)
OTP_TOTP_ISSUER = "creditplatform"
# Sessions (admin staff, portal) end after 15 idle minutes (PCI DSS v4.0 8.2.8).
SESSION_COOKIE_AGE = 15 * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# The cardholder portal signs in at /portal/login/ (staff use /admin/login/).
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
PASSWORD_HASHERS = env.list(
    "PASSWORD_HASHERS",
    default=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ],
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.PlatformJWTAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.PartnerScopes",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "accounts.throttling.PrincipalRateThrottle",
        "accounts.throttling.SourceIPRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("THROTTLE_USER", default="1200/min"),
        "ip": env.str("THROTTLE_IP", default="6000/min"),
        "login": env.str("THROTTLE_LOGIN", default="120/min"),
    },
    "DEFAULT_PARSER_CLASSES": ["creditplatform.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "creditplatform.api.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    # at most 5 minutes, whatever the environment says
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=min(5, env.int("JWT_ACCESS_MINUTES", default=5))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": _secret("JWT_SIGNING_KEY", "jwt-signing-key"),
    "AUDIENCE": env.str("JWT_AUDIENCE", default="creditplatform-api"),
    "ISSUER": env.str("JWT_ISSUER", default="creditplatform"),
    "LEEWAY": 0,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    # a password change voids every token (claim hash_password); sign out everywhere, refresh
    # reuse, deactivation and a staff flag change void them too (claim token_version, checked
    # by accounts.authentication.PlatformJWTAuthentication; accounts/tokens.py)
    "CHECK_REVOKE_TOKEN": True,
    "TOKEN_REFRESH_SERIALIZER": "accounts.tokens.RotatingRefreshSerializer",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "creditplatform API",
    "DESCRIPTION": "Credit accounts, cards, charges and payments. Money is an integer of minor "
    "units plus an ISO 4217 currency. Errors are RFC 9457 problem+json with a stable `code`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # problem+json errors with their codes and examples, Idempotency-Key (creditplatform/openapi.py)
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "creditplatform.openapi.postprocess_problems"],
}

# --- Field encryption (AES-256-GCM key ring; see creditplatform/crypto.py) --------------------
FIELD_KEK = _secret("FIELD_KEK", "field-kek")
FIELD_KEYRING_PATH = env.str("FIELD_KEYRING_PATH", default=str(VAR_DIR / "keyring.json"))
FIELD_KEYRING_AUTOCREATE = env.bool("FIELD_KEYRING_AUTOCREATE", default=DEBUG)

# --- Money and the ledger ---------------------------------------------------------------------
LEDGER_MAX_AMOUNT = env.int("LEDGER_MAX_AMOUNT", default=100_000_000)  # minor units per operation
LEDGER_PREAUTH = env.str("LEDGER_PREAUTH", default="fraud.preauth.decide")
LEDGER_HOLD_TTL_SECONDS = env.int("LEDGER_HOLD_TTL_SECONDS", default=7 * 24 * 3600)
IDEMPOTENCY_TTL_SECONDS = env.int("IDEMPOTENCY_TTL_SECONDS", default=24 * 3600)
IDEMPOTENCY_RUNNER = "ledger.idempotency.run_idempotent"
IDEMPOTENCY_KEY_VALIDATOR = "ledger.idempotency.validate_key"

# --- Billing (ledger/billing.py, docs/billing.md); money in minor units --------------------------
BILLING = {
    "DEFAULT_APR_BPS": env.int("BILLING_DEFAULT_APR_BPS", default=2499),  # 24.99 % APR
    "DEFAULT_CYCLE_DAY": env.int("BILLING_DEFAULT_CYCLE_DAY", default=28),  # 1..28
    "DUE_DAYS": env.int("BILLING_DUE_DAYS", default=25),  # Reg Z 1026.5(b)(2)(ii): >= 21 days
    "MIN_PAYMENT_FLOOR": env.int("BILLING_MIN_PAYMENT_FLOOR", default=2500),
    "MIN_PAYMENT_PRINCIPAL_BPS": env.int("BILLING_MIN_PAYMENT_PRINCIPAL_BPS", default=100),  # 1 %
    "LATE_FEE": env.int("BILLING_LATE_FEE", default=3000),  # capped at the missed minimum
    "FREEZE_AT_BUCKET": env.str("BILLING_FREEZE_AT_BUCKET", default="60"),  # 30, 60, 90 or ""
    # legal APR cap (Military Lending Act, 10 U.S.C. 987(b): 36 % MAPR) and the house policy's
    # four-eyes threshold for an APR increase (ledger.billing.billing_terms_change)
    "MAX_APR_BPS": env.int("BILLING_MAX_APR_BPS", default=3600),
    "APR_FOUR_EYES_BPS": env.int("BILLING_APR_FOUR_EYES_BPS", default=100),
    # an APR increase applies no earlier than this many days after its approval (the notice):
    # 12 CFR 1026.9(c)(2)(i), 45 days
    "APR_INCREASE_NOTICE_DAYS": env.int("BILLING_APR_INCREASE_NOTICE_DAYS", default=45),
}
from celery.schedules import crontab  # noqa: E402 - kept with the entry that uses it

CELERY_BEAT_SCHEDULE["billing-close-cycles"] = {  # daily; closes each cycle exactly once
    "task": "ledger.tasks.billing_close_cycles", "schedule": crontab(hour=0, minute=30),
}

# --- Fraud ------------------------------------------------------------------------------------
FRAUD_ALERT_THRESHOLD = env.float("FRAUD_ALERT_THRESHOLD", default=0.5)
# Above this score the scorer also freezes the card and notifies the cardholder (fraud.rules;
# an approved RuleSet version overrides both thresholds).
FRAUD_FREEZE_THRESHOLD = env.float("FRAUD_FREEZE_THRESHOLD", default=0.96)

# --- Internationalisation, static ------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# The project package is not an app; its own static files (favicon) are found here.
STATICFILES_DIRS = [BASE_DIR / "creditplatform" / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Audit ------------------------------------------------------------------------------------
AUDITLOG_MASK_CALLABLE = "compliance.audit.mask_last4"
AUDITLOG_DISABLE_REMOTE_ADDR = False
# Rows younger than this are not sealed yet (a transaction in flight may still commit them).
AUDIT_SEAL_DELAY_SECONDS = env.int("AUDIT_SEAL_DELAY_SECONDS", default=60)
# Audit rows stay online this many days; older sealed rows are archived (signed) and pruned by
# `manage.py audit_retention` (docs/compliance.md). 365 days: PCI DSS v4.0 10.5.1 (12 months).
COMPLIANCE_RETENTION_DAYS = env.int("COMPLIANCE_RETENTION_DAYS", default=365)
COMPLIANCE_ARCHIVE_DIR = env.path("COMPLIANCE_ARCHIVE_DIR", default=VAR_DIR / "audit-archive")

# --- Security (production) --------------------------------------------------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
# Cookies are HttpOnly and SameSite in every mode (no script reads the CSRF cookie: the admin and
# Swagger UI take the token from the page); HSTS, redirect and Secure cookies are production only.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy in every mode (django-csp 4; docs/transport.md). Everything is same
# origin, with no inline code except: the API docs' init <script>/<style> (they carry the
# per-response nonce: templates/drf_spectacular/) and one static <style> in the admin change
# list (its hash). swagger-ui.css draws its icons from data: SVGs; Redoc's search runs in a
# blob: worker.
from csp.constants import NONCE  # noqa: E402 - kept with the policy it belongs to

INSTALLED_APPS.append("csp")
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "csp.middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", NONCE,
                      "'sha256-blvLUW3UscWqsXGByNOqdBboM+ShWAuugp2mC/wbafU='"],  # admin change list
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# `check --deploy` also generates the OpenAPI schema: name the two "status" choice sets, which
# otherwise collide (drf_spectacular.W001).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "LifecycleStatusEnum": "accounts.models.CreditAccount.Status",  # accounts and cards
    "HoldStatusEnum": "ledger.models.Hold.Status",
}
# API paths carry their trailing slash; a POST without it answers 404 (problem+json), never a
# redirect that drops the body.
APPEND_SLASH = False
DEFAULT_EXCEPTION_REPORTER_FILTER = "creditplatform.errors.SecretsReporterFilter"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Structured JSON logs through one redaction step (creditplatform/logging.py).
configure_structlog()
register_secrets([SECRET_KEY, SIMPLE_JWT["SIGNING_KEY"], FIELD_KEK])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": formatter_config()},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own handlers (console in DEBUG, mail_admins, the runserver access log) would
        # write unredacted text: every Django logger goes to the one redacting handler instead.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
        "celery.app.trace": {"level": env.str("CELERY_TRACE_LOG_LEVEL", default="WARNING")},
    },
}
