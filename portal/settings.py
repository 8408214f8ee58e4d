"""One settings module, read from the environment through django-environ.

Defaults give the embedded setup of `make run` (SQLite, an embedded Redis on a
socket in VAR_DIR, console email). Malformed values fail at start.
"""

import base64
import secrets
from pathlib import Path
from urllib.parse import urlparse

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _private_file(name: str, make: callable) -> str:
    """Read a generated secret from VAR_DIR, creating it (mode 0600) on first start."""
    path = VAR_DIR / name
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(make())
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _private_file(
    "secret_key", lambda: secrets.token_urlsafe(50)
)

# Key-encryption key for everything sealed at rest (robot credentials, lifetime
# tokens, later the signing keys). Never stored in the database.
KEK = base64.b64decode(
    env.str("KEK", default="")
    or _private_file("kek", lambda: base64.b64encode(secrets.token_bytes(32)).decode())
)
if len(KEK) != 32:
    raise environ.ImproperlyConfigured("KEK must be 32 bytes, base64-encoded")

DEBUG = env.bool("DEBUG", default=False)
PORT = env.int("PORT", default=8000)
BASE_URL = env.str("BASE_URL", default=f"http://127.0.0.1:{PORT}").rstrip("/")

_base_host = urlparse(BASE_URL).hostname
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[_base_host, "127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = [BASE_URL]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # serves /api/docs from local static files, not a CDN
    "template_partials",
    "portal",
    "accounts",
    "webhooks",
    "practices",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# Reconnecting per request costs more than the queries of a typical API call.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write concurrently: WAL and immediate
    # transactions turn "database is locked" into short waits.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.OrganizationBackend"]
# Usernames are unique per organization, not globally (see accounts.User).
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
LOGIN_URL = "accounts-login"
LOGIN_REDIRECT_URL = "accounts-user-list"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24

# Redis: the broker and the cache. Unset means the embedded server that
# `make run` starts on a socket inside VAR_DIR.
REDIS_URL = env.str("REDIS_URL", default=f"unix://{VAR_DIR / 'redis.sock'}")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "sigillo",
    }
}
CELERY_BROKER_URL = (
    "redis+socket://" + REDIS_URL.removeprefix("unix://")
    if REDIS_URL.startswith("unix://")
    else REDIS_URL
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Sigillo <no-reply@localhost>")

SMS_BACKEND = env.str("SMS_BACKEND", default="console")
SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(VAR_DIR / "sms.jsonl"))
# SMS_BACKEND=http: a JSON POST {"to", "text"} to the gateway, with these headers
# (a JSON object, e.g. {"Authorization": "Bearer ..."}).
SMS_HTTP_URL = env.str("SMS_HTTP_URL", default="")
SMS_HTTP_HEADERS = env.json("SMS_HTTP_HEADERS", default={})
SMS_HTTP_TIMEOUT = env.float("SMS_HTTP_TIMEOUT", default=10.0)
if SMS_BACKEND not in ("console", "file", "http"):
    raise environ.ImproperlyConfigured("SMS_BACKEND must be console, file or http")
if SMS_BACKEND == "http" and not SMS_HTTP_URL:
    raise environ.ImproperlyConfigured("SMS_BACKEND=http needs SMS_HTTP_URL")

# Who vouches for a SPID signer before the one-time certificate signs: a dotted
# path to a practices.identity.IdentityProvider. The default is a demonstration
# provider that checks the fiscal code's form and nothing else.
SPID_IDENTITY_PROVIDER = env.str(
    "SPID_IDENTITY_PROVIDER", default="practices.identity.DemoIdentityProvider"
)

OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])
WEBHOOK_RETRY_SCHEDULE = [
    int(s)
    for s in env.list(
        "WEBHOOK_RETRY_SCHEDULE", default=["5", "300", "1800", "7200", "18000", "36000", "36000"]
    )
]

# Lifetimes and rate limits of the API's credentials. A rate is
# (requests, seconds) per client address and account.
ACCESS_TOKEN_LIFETIME = env.int("ACCESS_TOKEN_LIFETIME", default=8 * 3600)
REFRESH_TOKEN_LIFETIME = env.int("REFRESH_TOKEN_LIFETIME", default=30 * 24 * 3600)
RATE_LIMITS = {
    "token": (env.int("RATE_LIMIT_TOKEN", default=20), 60),
    "password": (env.int("RATE_LIMIT_PASSWORD", default=5), 300),
    "validate": (env.int("RATE_LIMIT_VALIDATE", default=30), 60),
    # Signer ticket calls (describe, code, sign, decline), per client address.
    "ticket": (env.int("RATE_LIMIT_TICKET", default=60), 60),
}

LANGUAGE_CODE = "it"
LANGUAGES = [("it", "Italiano"), ("en", "English"), ("es", "Español"), ("fr", "Français")]
# The languages the pages and the emails are written in: each has its catalogue
# in locale/ (English is the source). Signers get theirs, else their
# organization's, else Italian (pages) or English (emails).
TRANSLATED_LANGUAGES = tuple(code for code, _name in LANGUAGES)
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Europe/Rome"
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = BASE_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # oauthlib logs the tokens it issues at DEBUG: never let that through.
    "loggers": {"oauthlib": {"level": "WARNING"}},
}

# PKI and time-stamping (signing.pki, signing.tsa; served by portal.pki_views).
# The root and issuing CA are created in PKI_DIR on first use; their keys are
# sealed under KEK (KEY_BACKEND=file) or live on a PKCS#11 token (pkcs11).
PKI_DIR = Path(env.str("PKI_DIR", default=str(VAR_DIR / "pki"))).resolve()
PKI_NAME = env.str("PKI_NAME", default="Sigillo")
TSA_URL = env.str("TSA_URL", default="")  # empty: our own TSA, in-process
KEY_BACKEND = env.str("KEY_BACKEND", default="file")
if KEY_BACKEND not in ("file", "pkcs11"):
    raise environ.ImproperlyConfigured("KEY_BACKEND must be 'file' or 'pkcs11'")
PKCS11_MODULE = env.str("PKCS11_MODULE", default="")
PKCS11_TOKEN_LABEL = env.str("PKCS11_TOKEN_LABEL", default="")
PKCS11_PIN = env.str("PKCS11_PIN", default="")
if KEY_BACKEND == "pkcs11" and not (PKCS11_MODULE and PKCS11_TOKEN_LABEL and PKCS11_PIN):
    raise environ.ImproperlyConfigured(
        "KEY_BACKEND=pkcs11 needs PKCS11_MODULE, PKCS11_TOKEN_LABEL and PKCS11_PIN"
    )
# PEM files of further roots that validation trusts besides our own.
EXTRA_TRUST_ROOTS = env.list("EXTRA_TRUST_ROOTS", default=[])

# Webhook deliveries (webhooks/). The outbox is swept for due deliveries every
# WEBHOOK_SWEEP_SECONDS; a worker sending one holds a lease of
# WEBHOOK_LEASE_SECONDS, longer than an attempt can last (WEBHOOK_TIMEOUT), so a
# worker that dies mid-send leaves a lease that runs out and another retries.
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
WEBHOOK_LEASE_SECONDS = env.float("WEBHOOK_LEASE_SECONDS", default=WEBHOOK_TIMEOUT * 2 + 10)
WEBHOOK_SWEEP_SECONDS = env.float("WEBHOOK_SWEEP_SECONDS", default=2.0)
if WEBHOOK_LEASE_SECONDS <= WEBHOOK_TIMEOUT:
    raise environ.ImproperlyConfigured("WEBHOOK_LEASE_SECONDS must exceed WEBHOOK_TIMEOUT")
# Finished deliveries (and their attempts) are deleted after
# WEBHOOK_RETENTION_DAYS, checked hourly; 0 keeps them for ever.
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)
# Entries that other apps define above stay.
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "webhooks-deliver-due": {
        "task": "webhooks.tasks.deliver_due",
        "schedule": WEBHOOK_SWEEP_SECONDS,
        "options": {"expires": WEBHOOK_SWEEP_SECONDS},
    },
    "webhooks-prune": {
        "task": "webhooks.tasks.prune_deliveries",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
}


# Server-side HTTP (portal.outbound): a malformed allowed network fails at start,
# not at the first document fetch.
def _check_networks(cidrs: list[str]) -> None:
    import ipaddress

    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError as exc:
            raise environ.ImproperlyConfigured(f"OUTBOUND_ALLOWED_NETWORKS: {exc}") from None


_check_networks(OUTBOUND_ALLOWED_NETWORKS)


# Practices (DSTs). A create request carries its documents in base64, so the
# request size follows the document size. Fetches of document_uri go through
# portal.outbound; DOCUMENT_FETCH_CA_BUNDLE trusts a private CA for them.
# REMINDER_INTERVAL: seconds between reminders to pending signers (0: none).
MAX_DOCUMENT_BYTES = env.int("MAX_DOCUMENT_BYTES", default=50 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int(
    "MAX_REQUEST_BYTES", default=MAX_DOCUMENT_BYTES * 4 // 3 + 1024 * 1024
)
DOCUMENT_FETCH_TIMEOUT = env.float("DOCUMENT_FETCH_TIMEOUT", default=30.0)
DOCUMENT_FETCH_REDIRECTS = env.int("DOCUMENT_FETCH_REDIRECTS", default=3)
DOCUMENT_FETCH_CA_BUNDLE = env.str("DOCUMENT_FETCH_CA_BUNDLE", default="")
REMINDER_INTERVAL = env.int("REMINDER_INTERVAL", default=3 * 24 * 3600)

# Signer emails and the practices' clock (practices.lifecycle): beat expires
# practices past not_after every EXPIRY_SWEEP_SECONDS and sends due reminders
# every REMINDER_SWEEP_SECONDS, at most EXPIRY_BATCH / REMINDER_BATCH a run.
EXPIRY_SWEEP_SECONDS = env.float("EXPIRY_SWEEP_SECONDS", default=60.0)
EXPIRY_BATCH = env.int("EXPIRY_BATCH", default=200)
REMINDER_SWEEP_SECONDS = env.float("REMINDER_SWEEP_SECONDS", default=600.0)
REMINDER_BATCH = env.int("REMINDER_BATCH", default=200)
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    "practices-expire": {
        "task": "practices.tasks.practices_expire",
        "schedule": EXPIRY_SWEEP_SECONDS,
        "options": {"expires": EXPIRY_SWEEP_SECONDS},
    },
    "practices-remind": {
        "task": "practices.tasks.reminders_send",
        "schedule": REMINDER_SWEEP_SECONDS,
        "options": {"expires": REMINDER_SWEEP_SECONDS},
    },
}
