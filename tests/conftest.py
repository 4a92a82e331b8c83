"""Shared fixtures: media and model folders under tmp_path, fast hashing, factories."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
SHARED_FACES = SHARED / "data" / "faces"
SHARED_PHOTOS = SHARED / "data" / "photos"

needs_shared_faces = pytest.mark.skipif(
    not SHARED_FACES.is_dir(), reason=f"needs the shared face crops at {SHARED_FACES} (absent here)"
)
needs_shared_photos = pytest.mark.skipif(
    not SHARED_PHOTOS.is_dir(), reason=f"needs the shared photos at {SHARED_PHOTOS} (absent here)"
)


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IDOLSITE_MODEL_DIR = tmp_path / "models"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="labeler", password="pw-labeler-1")


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(username="boss", password="pw-boss-1", email="")
