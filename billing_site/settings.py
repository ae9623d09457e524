"""Settings come from the environment (12-factor); defaults give the embedded demo.

Embedded default: SQLite file in the project, no broker (Celery runs tasks in-process).
Real deployment: DATABASE_URL=postgres://..., REDIS_URL=redis://..., DEBUG=false.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# The embedded default is a development setup; production sets DEBUG=false and SECRET_KEY.
DEBUG = env.bool("DEBUG", default=True)
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "billing_site",
    "sessions.apps.SupportSessionsConfig",
    "contracts",
    "invoices",
    "portal",
    "integrations",
    "reports",
    "audit",
    "benchmarks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF, which reads the body: an upload over its limit is a 413, never read.
    "billing_site.uploads.UploadLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "billing_site.security.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "billing_site.tenancy.TenantMiddleware",
    "billing_site.rls.CrossTenantAdminMiddleware",
    # After the tenant: whether two-factor sign-in is required depends on its settings.
    "billing_site.two_factor.TwoFactorMiddleware",
    # NUL in query strings and URL-encoded forms: a 400 naming the field, not a 500.
    "billing_site.request_input.RequestInputMiddleware",
    # Last: turns a login refused by the lockout into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "billing_site.urls"

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
                "billing_site.context_processors.navigation",
            ],
        },
    },
]

WSGI_APPLICATION = "billing_site.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Concurrent writers (timer, web, in-process tasks) wait instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

# Covering indexes (INCLUDE) are a PostgreSQL feature; SQLite builds the plain index.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "billing_site.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes, decision 0009): failed logins on the login page, the admin
# and the API token endpoint are counted per account and per client address in the cache
# below, shared by every worker when it is Redis; a lockout refuses even the right password
# until it expires. The embedded default counts in local memory (one process).
CACHE_URL = env.str("CACHE_URL", default=env.str("REDIS_URL", default="")) or "locmemcache://"
CACHES = {"default": env.cache_url_config(CACHE_URL)}
AUTHENTICATION_BACKENDS = [
    "billing_site.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=5)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=20)
# Proxies in front of the app that append the client to X-Forwarded-For; 0 = REMOTE_ADDR only.
# Never more than really sit in front: each extra one lets a client choose its address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_HANDLER = "billing_site.login_throttle.LoginFailureHandler"
AXES_CLIENT_IP_CALLABLE = "billing_site.login_throttle.client_address"
AXES_LOCKOUT_CALLABLE = "billing_site.login_throttle.lockout_response"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = LOGIN_FAILURES_PER_ACCOUNT
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
# Attempts refused by a lockout are not counted, so it ends on time.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The counts live in the cache, not in axes' tables: its admin pages would show nothing.
AXES_ENABLE_ADMIN = False
# No start-up banner on every command; our handler logs each lockout itself.
AXES_VERBOSE = False
# The OpenAPI schema and the docs pages list every operation: a login unless set public.
API_SCHEMA_PUBLIC = env.bool("API_SCHEMA_PUBLIC", default=False)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# Only the documents a customer receives are translated (README "Invoice language"):
# their labels, in locale/<language>/LC_MESSAGES/django.po (compiled .mo committed).
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
# Largest upload of each kind (billing_site/uploads.py, README "Upload limits"), in MB.
UPLOAD_LIMITS = {
    # 32 MB: a 200,000-row session log (SESSION_IMPORT_MAX_ROWS) is about 25 MB.
    "session_log": env.int("UPLOAD_LIMIT_SESSION_LOG_MB", default=32) * 1024 * 1024,
    "attachment": env.int("UPLOAD_LIMIT_ATTACHMENT_MB", default=20) * 1024 * 1024,
    "logo": env.int("UPLOAD_LIMIT_LOGO_MB", default=1) * 1024 * 1024,
}
# Form fields besides files (Django's default, stated); a file above 1 MB is spooled to a
# temporary file rather than held in memory while the request is handled.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
# Each upload form takes one file; a request with more than ten is refused.
DATA_UPLOAD_MAX_NUMBER_FILES = 10
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="billing@localhost")
# The site's address as customers reach it (https://billing.example.com): messages written
# without a request (reminders) link to the portal from it; empty: no portal link.
SITE_URL = env.str("SITE_URL", default="")

# Celery: no broker configured -> tasks run in-process (eager) for the embedded default.
# Session log imports (sessions/bulk_import.py): files of more rows than ASYNC_ROWS are
# imported streamed by a Celery task with progress, CHUNK_ROWS rows at a time, up to MAX_ROWS.
SESSION_IMPORT_ASYNC_ROWS = env.int("SESSION_IMPORT_ASYNC_ROWS", default=5000)
SESSION_IMPORT_MAX_ROWS = env.int("SESSION_IMPORT_MAX_ROWS", default=200_000)
SESSION_IMPORT_CHUNK_ROWS = env.int("SESSION_IMPORT_CHUNK_ROWS", default=2000)

REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task taken by a worker that dies comes back after the visibility timeout (Redis' default
# is an hour). It must outlast the longest task (the PDF render's hard limit) and any retry
# countdown, or a running task is handed out twice.
PDF_RENDER_TIME_LIMIT = env.int("PDF_RENDER_TIME_LIMIT", default=120)
BROKER_VISIBILITY_TIMEOUT = env.int("BROKER_VISIBILITY_TIMEOUT", default=300)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT}
# PDFs pending longer than this (seconds) are queued again by the sweep (a lost enqueue).
PDF_PENDING_RETRY_AFTER = env.int("PDF_PENDING_RETRY_AFTER", default=120)
PDF_SWEEP_EVERY = env.int("PDF_SWEEP_EVERY", default=60)
# --- Accounting integrations ------------------------------------------------------
# Fernet keys for tokens at rest (newest first); required when DEBUG is off.
INTEGRATIONS_KEYS = env.list("INTEGRATIONS_KEYS", default=[])
# Provider endpoints are settings so a local trial and the tests point at the fakes
# (``make fakes``). Client id and secret come from each provider's developer portal.
QUICKBOOKS = {
    "client_id": env.str("QUICKBOOKS_CLIENT_ID", default=""),
    "client_secret": env.str("QUICKBOOKS_CLIENT_SECRET", default=""),
    "authorize_url": env.str(
        "QUICKBOOKS_AUTHORIZE_URL", default="https://appcenter.intuit.com/connect/oauth2"
    ),
    "token_url": env.str(
        "QUICKBOOKS_TOKEN_URL", default="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    ),
    "api_url": env.str("QUICKBOOKS_API_URL", default="https://quickbooks.api.intuit.com"),
    "minor_version": env.int("QUICKBOOKS_MINOR_VERSION", default=75),
    "scope": "com.intuit.quickbooks.accounting",
}
XERO = {
    "client_id": env.str("XERO_CLIENT_ID", default=""),
    "client_secret": env.str("XERO_CLIENT_SECRET", default=""),
    "authorize_url": env.str(
        "XERO_AUTHORIZE_URL", default="https://login.xero.com/identity/connect/authorize"
    ),
    "token_url": env.str("XERO_TOKEN_URL", default="https://identity.xero.com/connect/token"),
    "connections_url": env.str("XERO_CONNECTIONS_URL", default="https://api.xero.com/connections"),
    "api_url": env.str("XERO_API_URL", default="https://api.xero.com/api.xro/2.0"),
    "scope": env.str(
        "XERO_SCOPES",
        default="openid profile email offline_access accounting.invoices accounting.payments "
        "accounting.contacts accounting.settings",
    ),
}
# ConnectWise PSA: the integration's clientId (developer.connectwise.com); sites are
# reached over HTTPS only, unless CONNECTWISE_ALLOW_HTTP (a local fake server).
CONNECTWISE = {
    "client_id": env.str("CONNECTWISE_CLIENT_ID", default=""),
    "allow_http": env.bool("CONNECTWISE_ALLOW_HTTP", default=False),
}
INTEGRATIONS_HTTP_TIMEOUT = env.float("INTEGRATIONS_HTTP_TIMEOUT", default=30.0)
# Retries of a push: exponential from 30 s, capped; then it fails for good (shown on the log).
INTEGRATIONS_MAX_ATTEMPTS = env.int("INTEGRATIONS_MAX_ATTEMPTS", default=8)
INTEGRATIONS_BACKOFF_CAP = env.int("INTEGRATIONS_BACKOFF_CAP", default=3600)
INTEGRATIONS_SYNC_EVERY = env.int("INTEGRATIONS_SYNC_EVERY", default=900)
INTEGRATIONS_SWEEP_EVERY = env.int("INTEGRATIONS_SWEEP_EVERY", default=60)
# How long one attempt holds a delivery (longer than any push takes), and after how long
# the sweep sends a queued delivery's task again.
INTEGRATIONS_LEASE_SECONDS = env.int("INTEGRATIONS_LEASE_SECONDS", default=300)
INTEGRATIONS_REQUEUE_AFTER = env.int("INTEGRATIONS_REQUEUE_AFTER", default=120)

RECEIVABLES_RUN_EVERY = env.int("RECEIVABLES_RUN_EVERY", default=3600)
# The role the application connects as in production: owns no table, no BYPASSRLS
# (row-level security, billing_site/rls.py); migrate grants it its rights.
DB_APP_ROLE = env.str("DB_APP_ROLE", default="msp_app")
# Password reset and portal invitation links work once, for this many seconds.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)
# API tokens work this many days from when they were issued.
API_TOKEN_DAYS = max(1, env.int("API_TOKEN_DAYS", default=30))
# Two-factor sign-in: the name authenticator apps show for the account.
OTP_TOTP_ISSUER = "MSP Billing"
# Idempotency keys of the API are kept this long (never less than a day).
IDEMPOTENCY_KEY_HOURS = max(24, env.int("IDEMPOTENCY_KEY_HOURS", default=24))
# TeamViewer Web API (connection reports): the base URL is a setting so the tests point
# at a fake; each tenant with a script token is pulled every TEAMVIEWER_PULL_EVERY seconds.
TEAMVIEWER_API_URL = env.str("TEAMVIEWER_API_URL", default="https://webapi.teamviewer.com/api/v1")
TEAMVIEWER_PULL_EVERY = env.int("TEAMVIEWER_PULL_EVERY", default=3600)
CELERY_BEAT_SCHEDULE = {
    "invoice-pdf-sweep": {
        "task": "invoices.invoice_pdf_sweep_task",
        "schedule": float(PDF_SWEEP_EVERY),
        # A sweep nobody ran in time is dropped: the next one does the same work.
        "options": {"expires": float(PDF_SWEEP_EVERY)},
    },
    # Pushes waiting for their retry time, or whose task was lost, are queued again.
    "integration-deliveries-sweep": {
        "task": "integrations.deliveries_sweep_task",
        "schedule": float(INTEGRATIONS_SWEEP_EVERY),
        "options": {"expires": float(INTEGRATIONS_SWEEP_EVERY)},
    },
    "idempotency-keys-forget": {
        "task": "billing_site.forget_expired_idempotency_keys_task",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    # Overdue marks and reminders; hourly, so a tenant's new day starts within the hour.
    "receivables-daily": {
        "task": "invoices.receivables_daily_task",
        "schedule": float(RECEIVABLES_RUN_EVERY),
        "options": {"expires": float(RECEIVABLES_RUN_EVERY)},
    },
    # Session logs pulled from TeamViewer's Web API, tenant by tenant.
    "teamviewer-pull": {
        "task": "sessions.teamviewer_pull_all_task",
        "schedule": float(TEAMVIEWER_PULL_EVERY),
        "options": {"expires": float(TEAMVIEWER_PULL_EVERY)},
    },
    "integration-payments-sync": {
        "task": "integrations.payments_sync_all_task",
        "schedule": float(INTEGRATIONS_SYNC_EVERY),
        "options": {"expires": float(INTEGRATIONS_SYNC_EVERY)},
    },
}

# Largest JSON body the API reads (bytes); larger is a 413.
JSON_BODY_MAX_BYTES = env.int("JSON_BODY_MAX_BYTES", default=1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "billing_site.api.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "billing_site.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "billing_site.api.schema.BillingAutoSchema",
    "EXCEPTION_HANDLER": "billing_site.api.errors.exception_handler",
    # JSON bounded in size and depth, text checked (billing_site/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "billing_site.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "COERCE_DECIMAL_TO_STRING": True,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # DRF throttles read the client address as the login throttle does.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {"anon": env.str("ANON_THROTTLE_RATE", default="30/minute")},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "MSP Billing API",
    "DESCRIPTION": "Sessions, time, contracts and invoices for managed service providers.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs pages need a login unless API_SCHEMA_PUBLIC=true.
    "SERVE_PERMISSIONS": ["billing_site.api.permissions.SchemaAccess"],
    # Swagger UI and ReDoc served from the sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status"/"kind" field; name each enum after its model choices.
    "ENUM_NAME_OVERRIDES": {
        "InvoiceKindEnum": "invoices.models.InvoiceKind",
        "SessionLogLayoutEnum": "sessions.api.serializers.LAYOUT_CHOICES",
        "InvoiceStatusEnum": "invoices.models.InvoiceStatus",
        "BatchStatusEnum": "invoices.batches.models.BatchStatus",
        "InvoiceSourceEnum": "invoices.models.InvoiceSource",
        "InvoiceSourceScopeEnum": "invoices.models.SourceScope",
        "InvoiceLineKindEnum": "invoices.models.LineKind",
        "PdfStatusEnum": "invoices.models.PdfStatus",
        "ManualLineKindEnum": "invoices.api.serializers.MANUAL_LINE_KIND_CHOICES",
        "IntegrationProviderEnum": "integrations.core.models.Provider",
        "ConnectionStatusEnum": "integrations.core.models.ConnectionStatus",
        "MappingKindEnum": "integrations.core.models.MappingKind",
        "MappingOriginEnum": "integrations.core.models.MappingOrigin",
        "DeliveryActionEnum": "integrations.core.models.DeliveryAction",
        "DeliveryStatusEnum": "integrations.core.models.DeliveryStatus",
        "AttemptOutcomeEnum": "integrations.core.models.AttemptOutcome",
    },
}

# Security headers on every response, in development too (so tests see what production
# sends). Scripts come from this site only: no inline script, handler or eval (htmx is
# configured not to eval in templates/base.html). Styles allow inline `style` attributes
# and the tenant's brand-colour <style> (a validated hex value); CSS cannot run script.
# Views that need more (the API docs pages) widen it narrowly with django-csp decorators;
# PDFs get object-src 'self' for the browser's viewer (billing_site/security.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Production hardening; `check --deploy` is clean when DEBUG is false.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
