"""Shared fixtures: media and model folders under tmp_path, fast hashing, factories."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.s3 import s3_server, s3_storage  # noqa: F401  (fixtures: an S3-compatible server)

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
SHARED_FACES = SHARED / "data" / "faces"
SHARED_PHOTOS = SHARED / "data" / "photos"
YUNET_MODEL = SHARED / "models" / "face_detection_yunet_2026may.onnx"

needs_shared_faces = pytest.mark.skipif(
    not SHARED_FACES.is_dir(), reason=f"needs the shared face crops at {SHARED_FACES} (absent here)"
)
needs_shared_photos = pytest.mark.skipif(
    not SHARED_PHOTOS.is_dir(), reason=f"needs the shared photos at {SHARED_PHOTOS} (absent here)"
)


def distinct_crops(person: str) -> list[bytes]:
    """A shared person's crops, byte-for-byte copies left out (the shared set has a few)."""
    seen, out = set(), []
    for path in sorted((SHARED_FACES / person).iterdir()):
        data = path.read_bytes()
        if data not in seen:
            seen.add(data)
            out.append(data)
    return out


needs_yunet_model = pytest.mark.skipif(
    not YUNET_MODEL.is_file(), reason=f"needs the YuNet model at {YUNET_MODEL} (absent here)"
)


@pytest.fixture(autouse=True)
def _no_kept_counts() -> None:
    """Each test counts afresh: no count of unlabeled faces kept by an earlier one (only that
    key goes: with IDOLSITE_REDIS_URL set, clearing the cache would flush the broker's db)."""
    from django.core.cache import cache

    from labeling.selectors import UNLABELED_TOTAL_KEY

    cache.delete(UNLABELED_TOTAL_KEY)


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IDOLSITE_MODEL_DIR = tmp_path / "models"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests read English unless they ask for Japanese (Accept-Language, the cookie or
    # translation.override); the product's own default is Japanese (tests/project/test_i18n.py).
    settings.LANGUAGE_CODE = "en"
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    # New photos are not detected unless a test asks (fixture ``auto_detect``): most tests make
    # photos of random patterns and need no detector.
    settings.IDOLSITE_AUTO_DETECT = False
    # Nor are new faces embedded (fixture ``auto_embed``): most tests need no dlib.
    settings.IDOLSITE_AUTO_EMBED = False
    # Nor do new labels retrain the embedding recognizer (fixture ``auto_retrain``).
    settings.IDOLSITE_EMBEDDING_AUTO_RETRAIN = False
    # Trainings do not wait for labels to settle unless a test asks (classifier's retraining).
    settings.IDOLSITE_TRAINING_SETTLE_SECONDS = 0
    settings.IDOLSITE_YUNET_MODEL = YUNET_MODEL
    # The similar-faces index is held per process: each test's database starts without vectors.
    from faces.similarity import reset_index

    reset_index()


@pytest.fixture(autouse=True)
def _language_reset():
    """LocaleMiddleware leaves a request's language active in the thread that served it: a
    Japanese request must not make the next test read Japanese."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture
def auto_detect(settings, django_capture_on_commit_callbacks):
    """New photos go to detection as in production; the task runs inline (django-q sync mode)
    when the creating transaction commits: wrap the creation in ``auto_detect()``."""
    settings.IDOLSITE_AUTO_DETECT = True
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def auto_embed(settings, django_capture_on_commit_callbacks):
    """New faces go to embedding as in production, inline when the creating transaction
    commits: wrap the creation in ``auto_embed()``."""
    settings.IDOLSITE_AUTO_EMBED = True
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def auto_retrain(settings, django_capture_on_commit_callbacks):
    """New labels, rejections and merges retrain the embedding recognizer as in production,
    inline when their transaction commits: wrap the change in ``auto_retrain()``."""
    settings.IDOLSITE_EMBEDDING_AUTO_RETRAIN = True
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="labeler", password="pw-labeler-1")


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(username="boss", password="pw-boss-1", email="")


# Fixtures that open the test database, directly or through others.
_DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL (``make test``'s second run) only the tests that open the database run:
    the others (pure functions, the networks, the crawlers' parsers) do the same on either
    database and ran on SQLite. The browser tests too ran on SQLite: what they add to the
    views' own tests is the pages' scripts, which no database changes. Tests marked
    ``postgresql_run`` need PostgreSQL whatever the run (separate hosts): they run in the
    PostgreSQL run only. IDOLSITE_TESTS_ALL=1 runs everything in either run."""
    import os

    from django.conf import settings

    on_postgresql = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if os.environ.get("IDOLSITE_TESTS_ALL") == "1":
        return
    keep, drop = [], []
    for item in items:
        opens_database = item.get_closest_marker("django_db") is not None or bool(
            _DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
        )
        browser = item.get_closest_marker("browser") is not None
        postgresql_run = item.get_closest_marker("postgresql_run") is not None
        if on_postgresql:
            (keep if (opens_database or postgresql_run) and not browser else drop).append(item)
        else:  # the SQLite run leaves the PostgreSQL run's own tests to it
            (drop if postgresql_run else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
