"""Photos, thumbnails and crops in an S3-compatible bucket (moto's server, over HTTP): stored
there, read back by detection, served through signed addresses only, deleted with the photo."""

from __future__ import annotations

import io

import pytest
import requests
from django.core.files.storage import default_storage
from PIL import Image

from faces import services
from faces.models import FaceEmbedding, Photo
from faces.tasks import detect_photo, embed_faces
from labeling.roles import assign_role
from tests.faces.conftest import face
from tests.factories import image_bytes, make_face, make_photo

pytestmark = pytest.mark.django_db


def _close_the_bucket(settings, monkeypatch) -> None:
    """Point the media storage at a loopback port nobody listens on."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # boto3's own retries would only slow the test
    default = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**default, "OPTIONS": {**default["OPTIONS"], "endpoint_url": f"http://127.0.0.1:{closed}"}},
    }


@pytest.fixture
def viewer(django_user_model):
    user = django_user_model.objects.create_user(username="s3-viewer", password="pw-123456")
    assign_role(user, "viewer")
    return user


def test_an_uploaded_photo_is_stored_in_the_bucket_not_on_disk(s3_storage, settings):
    data = image_bytes(320, 240)
    photo = make_photo(data=data)
    assert s3_storage.read(s3_storage.media_key(photo.image.name)) == data
    assert s3_storage.media_key(photo.thumbnail.name) in s3_storage.list_keys()
    assert not (settings.MEDIA_ROOT / photo.image.name).exists()


def test_detection_reads_the_photo_from_the_bucket_and_stores_the_crops_there(s3_storage, scripted):
    scripted.faces = [face(20, 30, 60, 70), face(150, 40, 50, 50)]
    photo = make_photo(data=image_bytes(320, 240))
    detect_photo(photo.pk)
    photo.refresh_from_db()
    assert photo.status == Photo.Status.DETECTED and scripted.calls == 1
    crops = [f.crop.name for f in photo.faces.all()]
    assert len(crops) == 2
    for name in crops:
        crop = Image.open(io.BytesIO(s3_storage.read(s3_storage.media_key(name))))
        assert crop.size == (128, 128)


def test_a_photo_missing_from_the_bucket_fails_detection_with_the_reason(s3_storage, scripted):
    photo = make_photo(data=image_bytes(320, 240))
    s3_storage.client.delete_object(Bucket=s3_storage.bucket, Key=s3_storage.media_key(photo.image.name))
    detect_photo(photo.pk)
    photo.refresh_from_db()
    assert photo.status == Photo.Status.FAILED and "cannot be read" in photo.error


def test_the_media_view_redirects_to_a_signed_address_and_the_object_is_private(s3_storage, client, viewer):
    data = image_bytes(320, 240)
    photo = make_photo(data=data)
    url = photo.image.url
    assert url == f"/media/{photo.image.name}"  # the app's own address: the role is checked first
    key_url = f"{s3_storage.endpoint_url}/{s3_storage.bucket}/{s3_storage.media_key(photo.image.name)}"
    assert requests.get(key_url, timeout=10).status_code == 403  # nobody reads it unsigned

    assert client.get(url).status_code == 302  # to the sign-in page
    client.force_login(viewer)
    response = client.get(url)
    assert response.status_code == 302
    signed = response["Location"]
    assert signed.startswith(key_url + "?") and "X-Amz-Signature=" in signed and "X-Amz-Expires=300" in signed
    assert "max-age=150" in response["Cache-Control"]
    fetched = requests.get(signed, timeout=10)
    assert fetched.status_code == 200 and fetched.content == data


def test_files_of_a_trashed_photo_get_no_signed_address_for_a_viewer(s3_storage, client, viewer):
    photo = make_photo(data=image_bytes(320, 240))
    services.photo_trash(photo=photo)
    client.force_login(viewer)
    assert client.get(photo.image.url).status_code == 404


def test_purging_a_photo_deletes_its_objects(s3_storage, scripted):
    scripted.faces = [face(20, 30, 60, 70)]
    photo = make_photo(data=image_bytes(320, 240))
    detect_photo(photo.pk)
    other = make_photo(data=image_bytes(320, 240))
    photo = Photo.objects.get(pk=photo.pk)
    names = [photo.image.name, photo.thumbnail.name, photo.faces.get().crop.name]
    assert {s3_storage.media_key(n) for n in names} <= set(s3_storage.list_keys())
    services.photo_trash(photo=photo)
    assert {s3_storage.media_key(n) for n in names} <= set(s3_storage.list_keys())  # the trash keeps them
    services.photo_purge(photo=photo)
    left = set(s3_storage.list_keys())
    assert not {s3_storage.media_key(n) for n in names} & left
    assert s3_storage.media_key(other.image.name) in left


def test_the_same_name_twice_never_replaces_a_stored_object(s3_storage):
    first = default_storage.save("crops/00/0000000000000000_x.jpg", io.BytesIO(b"one"))
    second = default_storage.save("crops/00/0000000000000000_x.jpg", io.BytesIO(b"two"))
    assert first != second
    assert s3_storage.read(s3_storage.media_key(first)) == b"one"


def test_a_bucket_that_does_not_answer_leaves_the_photo_to_be_tried_again(s3_storage, scripted, settings, monkeypatch):
    photo = make_photo(data=image_bytes(320, 240))
    _close_the_bucket(settings, monkeypatch)
    with pytest.raises(Exception, match="Could not connect"):
        detect_photo(photo.pk)
    photo.refresh_from_db()
    assert photo.status != Photo.Status.FAILED and not photo.error
    assert photo.detection_claim is not None  # claimed: the sweep queues it again once stale


def test_crops_the_bucket_does_not_serve_now_are_not_recorded_as_failed_embeddings(s3_storage, settings, monkeypatch):
    crop = make_face()
    _close_the_bucket(settings, monkeypatch)
    with pytest.raises(Exception, match="Could not connect"):
        embed_faces([crop.pk])
    assert not FaceEmbedding.objects.filter(face=crop).exists()  # `manage.py embed` does it later
