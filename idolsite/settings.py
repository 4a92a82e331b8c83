"""idolsite settings, read from environment variables (see README.md, "Settings").

Nothing set: SQLite under ``var/``, django-q2's ORM broker, media and models under ``var/``,
so a new user needs no server. Production: ``DATABASE_URL`` (PostgreSQL),
``IDOLSITE_REDIS_URL`` (the Redis broker), ``SECRET_KEY``, ``ALLOWED_HOSTS``.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from core.env import (
    env_bool,
    env_choice,
    env_float,
    env_float_list,
    env_int,
    env_list,
    env_networks,
    env_path,
    env_str,
    env_url,
    parse_database_url,
    sqlite_database,
)
from core.storage import storage_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("IDOLSITE_VAR_DIR", BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY").strip()
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    # Development: generate once and keep it, so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # intcomma: counts grouped the way the reader's language writes them
    "rest_framework",
    "rest_framework.authtoken",  # emptied by a migration: tokens live hashed in knox's table
    "knox",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "faces.apps.FacesConfig",
    "labeling.apps.LabelingConfig",
    "classifier.apps.ClassifierConfig",
    "bots.apps.BotsConfig",
    "backups.apps.BackupsConfig",
]

MIDDLEWARE = [
    # First: every log line of a request carries its id, and its time counts every layer below.
    "idolsite.logs.RequestIdMiddleware",
    "idolsite.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the one chosen with the header's switch (a cookie), else the browser's.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The API's JSON errors and the site's 404 page in DEBUG too (below it: a number out of range
    # is answered first).
    "idolsite.middleware.SiteErrorsMiddleware",
    "idolsite.middleware.NumberOutOfRangeMiddleware",
    # Last: turns a sign-in refused for a lockout into the lockout answer (idolsite.signin).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "idolsite.urls"
WSGI_APPLICATION = "idolsite.wsgi.application"
ASGI_APPLICATION = "idolsite.asgi.application"

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

# Database: SQLite under var/ unless DATABASE_URL says otherwise.
_database_url = env_str("DATABASE_URL")
DATABASES = {
    "default": (
        parse_database_url(_database_url, base_dir=BASE_DIR)
        if _database_url
        else sqlite_database(VAR_DIR / "idolsite.sqlite3")
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Sign-in lockout (django-axes, idolsite.signin): failures are counted in the database, shared
# by every process, per account and per client address; the labeling login, the admin login and
# POST /api/auth/token/ all authenticate through LockoutBackend. The client address is
# REMOTE_ADDR, or with N trusted reverse proxies in front the address the outermost one saw.
IDOLSITE_TRUSTED_PROXIES = env_int("IDOLSITE_TRUSTED_PROXIES", 0, minimum=0, maximum=10)
IDOLSITE_LOGIN_FAILURE_LIMIT = env_int("IDOLSITE_LOGIN_FAILURE_LIMIT", 10, minimum=1)
IDOLSITE_LOGIN_COOLOFF_MINUTES = env_int("IDOLSITE_LOGIN_COOLOFF_MINUTES", 15, minimum=1)
AUTHENTICATION_BACKENDS = ["idolsite.signin.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = env_bool("IDOLSITE_LOGIN_LOCKOUT", True)
AXES_HANDLER = "idolsite.signin.LockoutHandler"
AXES_FAILURE_LIMIT = IDOLSITE_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=IDOLSITE_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one reaching the limit locks
AXES_CLIENT_IP_CALLABLE = "idolsite.signin.client_ip"
AXES_LOCKOUT_CALLABLE = "idolsite.signin.lockout_response"
AXES_RESET_ON_SUCCESS = True  # that account from that address only (LockoutHandler)
# Failures during a lockout are not counted, so the lockout ends one cool-off after it began.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_VERBOSE = False

# The labeling pages' sign-in: labelers are not staff, so the admin's login would refuse them.
LOGIN_URL = "labeling:login"
LOGIN_REDIRECT_URL = "home"  # the home page says what to do next
LOGOUT_REDIRECT_URL = "labeling:login"

# Japanese first: a browser that asks for neither language gets Japanese.
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "ja")
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
# core is no app, so its catalog (the API's shared errors) is named here; apps' are found.
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "core" / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
TIME_ZONE = env_str("TIME_ZONE", "Asia/Tokyo")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Media and model files (core.storage): on local disk (MEDIA_ROOT, IDOLSITE_MODEL_DIR) unless
# IDOLSITE_S3_BUCKET names an S3-compatible bucket that every machine shares. Its credentials:
# AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (read by boto3). Objects stay private: the media
# view checks the reader's role, then redirects to an address signed for IDOLSITE_S3_URL_SECONDS.
# A machine keeps the model files it downloaded under IDOLSITE_MODEL_CACHE_DIR.
IDOLSITE_S3_BUCKET = env_str("IDOLSITE_S3_BUCKET").strip()
IDOLSITE_S3_ENDPOINT_URL = env_url("IDOLSITE_S3_ENDPOINT_URL")
IDOLSITE_S3_REGION = env_str("IDOLSITE_S3_REGION").strip()
IDOLSITE_S3_PREFIX = env_str("IDOLSITE_S3_PREFIX").strip().strip("/")
IDOLSITE_S3_URL_SECONDS = env_int("IDOLSITE_S3_URL_SECONDS", 300, minimum=10, maximum=7 * 24 * 3600)
IDOLSITE_MODEL_CACHE_DIR = env_path("IDOLSITE_MODEL_CACHE_DIR", VAR_DIR / "model-cache")
STORAGES = {
    **storage_settings(
        bucket=IDOLSITE_S3_BUCKET,
        endpoint_url=IDOLSITE_S3_ENDPOINT_URL,
        region=IDOLSITE_S3_REGION,
        prefix=IDOLSITE_S3_PREFIX,
    ),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Photos and crops are people's faces: served only to signed-in users (faces.views.media).
MEDIA_URL = "/media/"
MEDIA_ROOT = env_path("IDOLSITE_MEDIA_ROOT", VAR_DIR / "media")
# Behind nginx: a media file answers with X-Accel-Redirect to this internal location, after the
# same role check, so nginx sends the bytes and no web worker is held (deploy/nginx/idolsite.conf);
# unset: Python streams the file. Local storage only.
IDOLSITE_MEDIA_ACCEL_REDIRECT = env_str("IDOLSITE_MEDIA_ACCEL_REDIRECT").strip()
if IDOLSITE_MEDIA_ACCEL_REDIRECT and not (
    IDOLSITE_MEDIA_ACCEL_REDIRECT.startswith("/") and IDOLSITE_MEDIA_ACCEL_REDIRECT.endswith("/")
):
    raise ImproperlyConfigured(
        f"IDOLSITE_MEDIA_ACCEL_REDIRECT={IDOLSITE_MEDIA_ACCEL_REDIRECT!r} must start and end with '/', "
        "e.g. /protected-media/"
    )
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Everything saved through the storage (photos, thumbnails, crops) is owner-only; the SQLite
# file too (core.sqlite), and the classifier's files (core.files).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Images: the largest accepted (bytes and pixels) and the size of stored crops and thumbnails.
IDOLSITE_MAX_IMAGE_BYTES = env_int("IDOLSITE_MAX_IMAGE_BYTES", 40 * 1024 * 1024, minimum=1024)
IDOLSITE_MAX_IMAGE_PIXELS = env_int("IDOLSITE_MAX_IMAGE_PIXELS", 64_000_000, minimum=10_000)
IDOLSITE_CROP_SIZE = env_int("IDOLSITE_CROP_SIZE", 128, minimum=32, maximum=1024)
IDOLSITE_THUMBNAIL_SIZE = env_int("IDOLSITE_THUMBNAIL_SIZE", 320, minimum=64, maximum=2048)

# Face detection (faces.detection, faces.tasks.detect_photo). The backend is one of
# faces.detectors.DETECTORS. Angles: the rotated copies searched, in degrees (counter-clockwise);
# empty means the backend's own default (mtcnn and yunet find faces tilted up to ~45° unaided, so
# they search upright only; haar searches -30, 0, 30). Photos are scaled down to
# IDOLSITE_DETECT_MAX_SIDE pixels for detection (boxes are scaled back; crops come from the full
# photo); faces smaller than IDOLSITE_MIN_FACE_SIZE photo pixels are skipped and counted.
IDOLSITE_DETECTOR = env_str("IDOLSITE_DETECTOR", "mtcnn")
IDOLSITE_DETECT_ANGLES = env_float_list("IDOLSITE_DETECT_ANGLES", [], minimum=-180.0, maximum=180.0)
# Tilt follow-up (faces.detection): when faces found are rolled by at least _MIN_ROLL degrees (by
# their eyes), one more pass on a copy turned by that roll finds the tilted faces of a tilted photo
# that the upright pass missed, for about half the cost of searching -30/0/30 (bench/detect.py
# --tilt); photos whose faces all lie within _MIN_ROLL of level pay nothing.
IDOLSITE_DETECT_FOLLOW_TILT = env_bool("IDOLSITE_DETECT_FOLLOW_TILT", True)
IDOLSITE_DETECT_FOLLOW_TILT_MIN_ROLL = env_float(
    "IDOLSITE_DETECT_FOLLOW_TILT_MIN_ROLL", 25.0, minimum=0.0, maximum=90.0
)
IDOLSITE_DETECT_MAX_SIDE = env_int("IDOLSITE_DETECT_MAX_SIDE", 1280, minimum=64)
IDOLSITE_MIN_FACE_SIZE = env_int("IDOLSITE_MIN_FACE_SIZE", 32, minimum=1)
IDOLSITE_CROP_MARGIN = env_float("IDOLSITE_CROP_MARGIN", 0.25, minimum=0.0, maximum=2.0)
IDOLSITE_YUNET_MODEL = env_path("IDOLSITE_YUNET_MODEL", BASE_DIR / "var" / "models" / "face_detection_yunet.onnx")
IDOLSITE_YUNET_SCORE = env_float("IDOLSITE_YUNET_SCORE", 0.7, minimum=0.0, maximum=1.0)
# New photos (import, crawl, upload) go to detection on commit; tests turn it off where unwanted.
IDOLSITE_AUTO_DETECT = env_bool("IDOLSITE_AUTO_DETECT", True)
# Face embeddings (faces.embedders, faces.tasks.embed_faces): a vector per face from the
# embedder named here, computed after detection and for hand-drawn and imported faces (on commit,
# unless IDOLSITE_AUTO_EMBED is off). IDOLSITE_EMBEDDER_MODEL: another dlib-format network file
# (empty: the one face_recognition_models ships).
IDOLSITE_EMBEDDER = env_str("IDOLSITE_EMBEDDER", "dlib")
IDOLSITE_EMBEDDER_MODEL = env_str("IDOLSITE_EMBEDDER_MODEL", "")
IDOLSITE_AUTO_EMBED = env_bool("IDOLSITE_AUTO_EMBED", True)
# "Similar faces" (faces.similarity): neighbours farther than this Euclidean distance are left
# out; 0.6 is the threshold dlib's 128-d vectors were trained to separate people at.
IDOLSITE_SIMILAR_MAX_DISTANCE = env_float("IDOLSITE_SIMILAR_MAX_DISTANCE", 0.6, minimum=0.0, maximum=4.0)
# Likely duplicate idols (labeling.duplicates): offered for merge when the median distance from
# her faces to the other idol's nearest face is below this; well under 0.6, so only clear cases.
IDOLSITE_DUPLICATE_IDOL_DISTANCE = env_float("IDOLSITE_DUPLICATE_IDOL_DISTANCE", 0.45, minimum=0.0, maximum=4.0)
# Seconds a task may run before django-q stops it (Q_CLUSTER "timeout"); the broker delivers a
# task again when its worker did not finish it within this plus a minute (Q_CLUSTER "retry").
IDOLSITE_TASK_TIMEOUT = env_int("IDOLSITE_TASK_TIMEOUT", 600, minimum=10)
# A detection claim older than this belongs to a dead worker: the task's retry takes it over and
# the sweep (faces.tasks.sweep_detection_claims) queues the photo again. Longer than a task may
# run (a live worker is never robbed), shorter than the retry (checked at start-up).
IDOLSITE_DETECT_CLAIM_TIMEOUT = env_int("IDOLSITE_DETECT_CLAIM_TIMEOUT", IDOLSITE_TASK_TIMEOUT + 30, minimum=10)
# A photo whose detection was interrupted (worker killed, task timed out) this many times fails
# with the reason instead of being queued again: it may be the one that kills the workers.
IDOLSITE_DETECT_MAX_ATTEMPTS = env_int("IDOLSITE_DETECT_MAX_ATTEMPTS", 3, minimum=1, maximum=100)

# The detection API (POST /api/detect/): the largest image accepted, uploaded or fetched from a
# URL (through faces.http, see the IDOLSITE_FETCH_* settings below).
IDOLSITE_API_MAX_IMAGE_BYTES = env_int("IDOLSITE_API_MAX_IMAGE_BYTES", 10 * 1024 * 1024, minimum=1024)

# Classifier artifacts (.keras files and their JSON), when no bucket is set (STORAGES["models"]).
IDOLSITE_MODEL_DIR = env_path("IDOLSITE_MODEL_DIR", VAR_DIR / "models")
IDOLSITE_MIN_FACES_PER_CLASS = env_int("IDOLSITE_MIN_FACES_PER_CLASS", 20, minimum=2)
# The recognizer a training makes unless asked for another: "embedding" (a head on the face
# embeddings: seconds, from the first labels) or "network" (from the crops' pixels: hours on a CPU).
IDOLSITE_RECOGNIZER = env_choice("IDOLSITE_RECOGNIZER", "embedding", ("embedding", "network"))
# The embedding recognizer learns an idol from this many labeled faces with a vector.
IDOLSITE_EMBEDDING_MIN_FACES = env_int("IDOLSITE_EMBEDDING_MIN_FACES", 1, minimum=1)
# Share of strangers (faces of people never labeled) it may take for someone known: the distance
# threshold of "unknown" is chosen on held-out faces for this rate.
IDOLSITE_EMBEDDING_FALSE_ACCEPT = env_float("IDOLSITE_EMBEDDING_FALSE_ACCEPT", 0.01, minimum=0.0, maximum=0.5)
# New labels, rejections and merges retrain the embedding recognizer at once (one training queued
# at a time absorbs a burst); off: only the schedule and people start trainings.
IDOLSITE_EMBEDDING_AUTO_RETRAIN = env_bool("IDOLSITE_EMBEDDING_AUTO_RETRAIN", True)
IDOLSITE_UNKNOWN_THRESHOLD = env_float("IDOLSITE_UNKNOWN_THRESHOLD", 0.5, minimum=0.0, maximum=1.0)
# Bots without a threshold of their own name a face only where the active model's validation
# faces were named right this often (its calibration), and never under the threshold above.
IDOLSITE_BOT_PRECISION = env_float("IDOLSITE_BOT_PRECISION", 0.9, minimum=0.0, maximum=1.0)
# The site's address as the outside world reaches it (LINE fetches a bot's numbered pictures
# from there; LINE wants https). Unset: the bots answer in text only.
IDOLSITE_PUBLIC_URL = env_url("IDOLSITE_PUBLIC_URL")
# The LINE Messaging API's hosts (a local fake in tests and benchmarks).
IDOLSITE_LINE_API_URL = env_url("IDOLSITE_LINE_API_URL", "https://api.line.me")
IDOLSITE_LINE_DATA_URL = env_url("IDOLSITE_LINE_DATA_URL", "https://api-data.line.me")
# Mastodon bots read their mentions this often (minutes); after an error they wait 1, 2, 4 ...
# minutes, at most IDOLSITE_MASTODON_MAX_BACKOFF (seconds), or until the rate limit resets.
IDOLSITE_MASTODON_POLL_MINUTES = env_int("IDOLSITE_MASTODON_POLL_MINUTES", 1, minimum=1, maximum=1440)
IDOLSITE_MASTODON_MAX_BACKOFF = env_int("IDOLSITE_MASTODON_MAX_BACKOFF", 3600, minimum=60)
# Training: epochs of the product recipe; a running run silent for this long lost its worker;
# the schedule retrains once this many label changes arrived since the active model.
IDOLSITE_TRAINING_EPOCHS = env_int("IDOLSITE_TRAINING_EPOCHS", 90, minimum=1, maximum=1000)
# The network's precision (classifier.ml.precision.precision_policy reads the same variable in the
# training worker; checked here so that a typo stops start-up).
IDOLSITE_TRAINING_PRECISION = env_choice(
    "IDOLSITE_TRAINING_PRECISION", "auto", ("auto", "float32", "mixed_bfloat16", "mixed_float16")
)
# A small labeled set trains for more epochs, up to this many optimizer steps in all.
IDOLSITE_TRAINING_MIN_STEPS = env_int("IDOLSITE_TRAINING_MIN_STEPS", 1000, minimum=0, maximum=100_000)
# Faces people rejected suggestions for (and never labeled) train as "not her".
IDOLSITE_TRAINING_NEGATIVES = env_bool("IDOLSITE_TRAINING_NEGATIVES", True)
# A training starts from the active model's weights when it has the same idols and network (a
# warm start: a third of the steps); after this many warm starts in a row, one from scratch
# (0: always from scratch).
IDOLSITE_TRAINING_WARM_CHAIN = env_int("IDOLSITE_TRAINING_WARM_CHAIN", 4, minimum=0, maximum=100)
# A running training beats (TrainingRun.heartbeat_at) every few seconds while it trains and at
# each phase; one silent this long lost its worker: the sweep fails it and a new request starts
# a new run.
IDOLSITE_TRAINING_STALE_SECONDS = env_int("IDOLSITE_TRAINING_STALE_SECONDS", 300, minimum=60)
IDOLSITE_RETRAIN_MIN_CHANGES = env_int("IDOLSITE_RETRAIN_MIN_CHANGES", 100, minimum=1)
# No automatic training starts while photos wait for detection or faces for their vector; a
# recognizer's first one also waits until no label changed for this many seconds (an import of
# labeled faces, a first labeling session). Work waiting longer than the maximum no longer
# holds training back (a queue whose worker is down).
IDOLSITE_TRAINING_SETTLE_SECONDS = env_int("IDOLSITE_TRAINING_SETTLE_SECONDS", 60, minimum=0, maximum=86_400)
IDOLSITE_TRAINING_MAX_WAIT_SECONDS = env_int("IDOLSITE_TRAINING_MAX_WAIT_SECONDS", 7200, minimum=0)

# Task queue (django-q2). Two clusters: "default" (crawling, detection, inference) and
# "training" (one training at a time, on GPU machines at scale). IDOLSITE_REDIS_URL set: the
# Redis broker; unset: the ORM broker on the default database, no server needed.
IDOLSITE_REDIS_URL = env_str("IDOLSITE_REDIS_URL")
TRAINING_CLUSTER = "training"
Q_CLUSTER = {
    "name": "idolsite",
    "workers": env_int("IDOLSITE_WORKERS", 2, minimum=1),
    "timeout": IDOLSITE_TASK_TIMEOUT,
    "retry": IDOLSITE_TASK_TIMEOUT + 60,
    "max_attempts": 3,
    "queue_limit": 50,
    "bulk": 10,
    "save_limit": 500,
    "catch_up": False,
    # Every cluster turns due schedules into tasks unless this is off; deployments run it off in
    # the clusters and start exactly one `manage.py qscheduler` (deploy/Procfile).
    "scheduler": env_bool("IDOLSITE_SCHEDULER", True),
    "label": "Task queue",
    "ALT_CLUSTERS": {
        TRAINING_CLUSTER: {
            "workers": 1,
            "timeout": env_int("IDOLSITE_TRAINING_TIMEOUT", 6 * 3600, minimum=60),
            "retry": env_int("IDOLSITE_TRAINING_TIMEOUT", 6 * 3600, minimum=60) + 600,
            "max_attempts": 1,
            "recycle": 1,
            "queue_limit": 2,
        },
    },
}
if IDOLSITE_REDIS_URL:
    Q_CLUSTER["redis"] = IDOLSITE_REDIS_URL
    # One cache for every web and worker process: API throttles count across all of them.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": IDOLSITE_REDIS_URL,
            "KEY_PREFIX": "idolsite",
        }
    }
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1.0
Q_CLUSTER["sync"] = env_bool("IDOLSITE_TASKS_SYNC", False)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every API view says which role each of its actions needs (core.permissions.RolePermission).
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # JSON with a depth limit, a size limit and no unpaired surrogates (core.parsers).
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("IDOLSITE_THROTTLE_ANON", "30/minute"),
        "user": env_str("IDOLSITE_THROTTLE_USER", "600/minute"),
        # POST /api/detect/: a detection costs 0.1-2 s of CPU.
        "detect": env_str("IDOLSITE_THROTTLE_DETECT", "60/minute"),
        # POST /api/photos/: each upload stores files and queues a detection.
        "upload": env_str("IDOLSITE_THROTTLE_UPLOAD", "120/hour"),
        # POST /api/recognize/ (the classifier's, when it lands): detection plus inference.
        "recognize": env_str("IDOLSITE_THROTTLE_RECOGNIZE", "60/minute"),
    },
    # The anonymous throttle counts by the address idolsite.signin.client_ip finds (same rule).
    "NUM_PROXIES": IDOLSITE_TRUSTED_PROXIES,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.api.ApiSchema",
}

# API tokens (django-rest-knox, idolsite.tokens): stored as digests; a token expires this many
# days after its last use (0: never); POST /api/auth/token/ makes a new one each time and
# retires the oldest beyond the per-user limit.
IDOLSITE_TOKEN_TTL_DAYS = env_int("IDOLSITE_TOKEN_TTL_DAYS", 90, minimum=0)
IDOLSITE_TOKENS_PER_USER = env_int("IDOLSITE_TOKENS_PER_USER", 20, minimum=1)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=IDOLSITE_TOKEN_TTL_DAYS) if IDOLSITE_TOKEN_TTL_DAYS else None,
    "AUTO_REFRESH": True,
    "AUTH_HEADER_PREFIX": "Token",
}

# The OpenAPI 3 schema at /api/schema/, Swagger UI at /api/docs/ and Redoc at /api/redoc/,
# their JavaScript served from drf-spectacular-sidecar (no CDN: works offline).
SPECTACULAR_SETTINGS = {
    "TITLE": "idolsite API",
    "DESCRIPTION": (
        "Photos, faces, idols, labels and sources. Authenticate with `Authorization: Token <key>` "
        "(POST /api/auth/token/) or a session. Errors: `{error, detail, fields}`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SCHEMA_PATH_PREFIX": "/api/",
    "COMPONENT_SPLIT_REQUEST": True,
    # The documentation pages load nothing from outside the site: Swagger UI and Redoc from the
    # sidecar package, no fonts (templates/drf_spectacular/redoc.html), no online validator.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "PhotoStatusEnum": "faces.models.Photo.Status",
        "SourceKindEnum": "faces.models.Source.Kind",
        "ExclusionReasonEnum": "faces.models.Face.ExclusionReason",
        "LabelHowEnum": "labeling.models.How",
        "LabelActionEnum": "labeling.models.LabelEvent.Action",
        "DeletionReasonEnum": "labeling.models.Idol.DeletionReason",
        "AliasKindEnum": "labeling.models.IdolAlias.Kind",
    },
}

# IDOLSITE_LOG_JSON: one JSON object a line (time, level, logger, message, request_id) for a log
# collector; else plain text. Either way a request's lines carry its id (idolsite.logs).
IDOLSITE_LOG_JSON = env_bool("IDOLSITE_LOG_JSON", False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "idolsite.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "idolsite.logs.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if IDOLSITE_LOG_JSON else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}, "axes": {"level": "WARNING"}},
}

# Prometheus metrics at /metrics (idolsite.metrics) for a bearer token or the addresses of an
# allow-list (client addresses as the sign-in lockout finds them, IDOLSITE_TRUSTED_PROXIES);
# neither set: metrics are off (404).
IDOLSITE_METRICS_TOKEN = env_str("IDOLSITE_METRICS_TOKEN").strip()
IDOLSITE_METRICS_ALLOW = env_networks("IDOLSITE_METRICS_ALLOW")

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
# HTTPS: off by default, since HSTS cannot be taken back from browsers that saw it; production sets
# it once TLS works (deploy/.env.example).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
# Preloading (hstspreload.org) binds the whole domain for months: the operator's choice, not a
# warning (security.W021) every deployment must carry.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if IDOLSITE_TRUSTED_PROXIES:
    # The proxy terminates TLS and says so (deploy/nginx/idolsite.conf sets the header, replacing
    # any a client sent); it also redirects plain http, while probes reach gunicorn directly over
    # http, so Django's own redirect (security.W008) stays off.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    if not SECURE_SSL_REDIRECT:
        SILENCED_SYSTEM_CHECKS.append("security.W008")

# Fetching images and crawling sources (faces.http): timeouts, retries, politeness, SSRF guard.
IDOLSITE_FETCH_CONNECT_TIMEOUT = env_float("IDOLSITE_FETCH_CONNECT_TIMEOUT", 5.0, minimum=0.1)
IDOLSITE_FETCH_READ_TIMEOUT = env_float("IDOLSITE_FETCH_READ_TIMEOUT", 20.0, minimum=0.1)
IDOLSITE_FETCH_RETRIES = env_int("IDOLSITE_FETCH_RETRIES", 3, minimum=0, maximum=10)
IDOLSITE_FETCH_BACKOFF = env_float("IDOLSITE_FETCH_BACKOFF", 1.0, minimum=0.0)
IDOLSITE_FETCH_HOST_DELAY = env_float("IDOLSITE_FETCH_HOST_DELAY", 1.0, minimum=0.0)
# The most one attempt of a fetch may take, connect, redirects and the whole body included.
IDOLSITE_FETCH_DEADLINE = env_float("IDOLSITE_FETCH_DEADLINE", 60.0, minimum=1.0)
# Hosts that may resolve to internal addresses (intranets, tests); everything else internal is refused.
IDOLSITE_FETCH_ALLOWED_HOSTS = env_list("IDOLSITE_FETCH_ALLOWED_HOSTS", [])
IDOLSITE_PHASH_MAX_DISTANCE = env_int("IDOLSITE_PHASH_MAX_DISTANCE", 4, minimum=0, maximum=16)
IDOLSITE_X_BEARER_TOKEN = env_str("IDOLSITE_X_BEARER_TOKEN")
IDOLSITE_X_API_BASE = env_str("IDOLSITE_X_API_BASE", "https://api.x.com")
IDOLSITE_BLUESKY_APPVIEW = env_str("IDOLSITE_BLUESKY_APPVIEW", "https://public.api.bsky.app")

# Active learning: label changes since the active model that enqueue a training from
# the review page; faces a suggest task predicts at once.
IDOLSITE_RETRAIN_AFTER_LABELS = env_int("IDOLSITE_RETRAIN_AFTER_LABELS", 200, minimum=1)
IDOLSITE_SUGGEST_BATCH = env_int("IDOLSITE_SUGGEST_BATCH", 256, minimum=1)
# Suggestions average the new model with this many models in all (itself and the newest earlier
# ones that know the same idols): models trained on other data are rarely wrong together.
IDOLSITE_SUGGEST_ENSEMBLE = env_int("IDOLSITE_SUGGEST_ENSEMBLE", 2, minimum=1, maximum=5)
IDOLSITE_MISTAKE_PROBABILITY = env_float("IDOLSITE_MISTAKE_PROBABILITY", 0.8, minimum=0.0, maximum=1.0)
# Clusters of unknown faces (classifier.services.clusters): HDBSCAN on the face embeddings, its
# groups cut where faces are farther apart on average than DISTANCE (Euclidean; 0.6 separates
# people in dlib's vectors); a cluster has at least MIN_SIZE faces (fewer: more clusters, more of
# them strangers seen twice); a build takes the newest MAX_FACES candidates (time grows ~N^1.9).
IDOLSITE_CLUSTER_DISTANCE = env_float("IDOLSITE_CLUSTER_DISTANCE", 0.6, minimum=0.01, maximum=4.0)
IDOLSITE_CLUSTER_MIN_SIZE = env_int("IDOLSITE_CLUSTER_MIN_SIZE", 3, minimum=2, maximum=1000)
IDOLSITE_CLUSTER_MAX_FACES = env_int("IDOLSITE_CLUSTER_MAX_FACES", 10000, minimum=2)
