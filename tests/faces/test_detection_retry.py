"""A failed detection queued again by hand (the photo feed's Retry)."""

from __future__ import annotations

import pytest

from core.errors import Conflict
from faces import services
from faces.models import Photo
from faces.tasks import detect_photo
from tests.faces.conftest import face
from tests.factories import image_bytes, make_photo

pytestmark = pytest.mark.django_db


def test_a_failed_photo_waits_again_and_is_detected_once_committed(scripted, django_capture_on_commit_callbacks):
    scripted.error = RuntimeError("no detector today")
    photo = make_photo(data=image_bytes(320, 240))
    detect_photo(photo.pk)
    photo.refresh_from_db()
    assert photo.status == Photo.Status.FAILED
    scripted.error, scripted.faces = None, [face(20, 30, 60, 70)]
    with django_capture_on_commit_callbacks(execute=True):
        again = services.photo_detection_retry(photo=photo)
        assert (again.status, again.error) == (Photo.Status.NEW, "")
        assert scripted.calls == 1  # not before the retry commits
    photo.refresh_from_db()
    assert photo.status == Photo.Status.DETECTED and photo.faces.count() == 1


@pytest.mark.parametrize("how", ["new", "detected", "trashed"])
def test_only_a_failed_photo_in_use_is_retried(how, django_capture_on_commit_callbacks):
    photo = make_photo()
    if how == "detected":
        Photo.all_objects.filter(pk=photo.pk).update(status=Photo.Status.DETECTED)
    if how == "trashed":
        Photo.all_objects.filter(pk=photo.pk).update(status=Photo.Status.FAILED, error="x")
        services.photo_trash(photo=photo)
    before = Photo.all_objects.values().get(pk=photo.pk)
    with django_capture_on_commit_callbacks(execute=False) as queued, pytest.raises(Conflict):
        services.photo_detection_retry(photo=photo)
    assert queued == [] and Photo.all_objects.values().get(pk=photo.pk) == before
