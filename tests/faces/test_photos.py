from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from core.errors import DomainError, DuplicatePhoto, InvalidImage, TrashedBefore
from faces import services
from faces.models import Face, Photo, PhotoTombstone
from tests.factories import image_bytes, make_face, make_photo

pytestmark = pytest.mark.django_db


def test_photo_create_stores_file_thumbnail_hashes_and_size():
    data = image_bytes(400, 300)
    photo = services.photo_create(data=data, original_name="a.jpg")
    assert (photo.width, photo.height, photo.format) == (400, 300, "JPEG")
    assert len(photo.sha256) == 64 and len(photo.phash) == 16
    assert default_storage.open(photo.image.name).read() == data
    assert default_storage.exists(photo.thumbnail.name)
    assert photo.status == Photo.Status.NEW


def test_same_content_is_refused_as_duplicate():
    data = image_bytes()
    first = services.photo_create(data=data)
    with pytest.raises(DuplicatePhoto) as info:
        services.photo_create(data=data)
    assert info.value.existing_id == first.pk
    assert Photo.all_objects.count() == 1


def test_bad_image_changes_nothing(tmp_path):
    with pytest.raises(InvalidImage, match="empty"):
        services.photo_create(data=b"")
    with pytest.raises(InvalidImage, match="HTML"):
        services.photo_create(data=b"<!DOCTYPE html><html><body>nope</body></html>")
    with pytest.raises(InvalidImage, match=r"damaged|truncated"):
        services.photo_create(data=image_bytes(300, 300)[:400])
    assert Photo.all_objects.count() == 0
    media = tmp_path / "media"
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_trash_leaves_tombstone_and_blocks_reimport_until_restored():
    data = image_bytes()
    photo = services.photo_create(data=data, source_url="https://example.org/p/1.jpg")
    services.photo_trash(photo=photo)
    assert not Photo.objects.filter(pk=photo.pk).exists()  # hidden by the default manager
    assert Photo.all_objects.get(pk=photo.pk).is_trashed
    assert PhotoTombstone.objects.filter(sha256=photo.sha256, photo=photo).exists()
    with pytest.raises(TrashedBefore):  # its tombstone keeps it out, as crawling does
        services.photo_create(data=data)
    with pytest.raises(DomainError, match="already in the trash"):
        services.photo_trash(photo=photo)
    services.photo_restore(photo=photo)
    assert Photo.objects.filter(pk=photo.pk).exists()
    assert not PhotoTombstone.objects.exists()


def test_purged_photo_never_comes_back():
    data = image_bytes()
    photo = services.photo_create(data=data, source_url="https://example.org/p/2.jpg")
    make_face(photo)
    services.photo_trash(photo=photo)
    services.photo_purge(photo=photo)
    assert not Photo.all_objects.exists() and not Face.objects.exists()
    with pytest.raises(TrashedBefore):
        services.photo_create(data=data)
    with pytest.raises(TrashedBefore):  # re-encoded elsewhere, same URL
        services.photo_create(data=image_bytes(), source_url="https://example.org/p/2.jpg")


def test_purge_refuses_a_photo_not_in_the_trash():
    photo = make_photo()
    with pytest.raises(DomainError, match="not in the trash"):
        services.photo_purge(photo=photo)


@pytest.mark.parametrize(
    ("field", "value"),
    [("w", 0), ("h", -3), ("x", -1), ("score", 1.5), ("score", -0.1)],
)
def test_face_check_constraints(field, value):
    face = make_face()
    setattr(face, field, value)
    with pytest.raises(IntegrityError), transaction.atomic():
        face.save()


@pytest.mark.parametrize("box", [(300, 10, 50, 50), (10, 200, 50, 50), (0, 0, 321, 10)])
def test_face_box_must_lie_inside_photo_in_the_database(box):
    photo = make_photo(data=image_bytes(320, 240))
    face = make_face(photo)
    face.x, face.y, face.w, face.h = box
    with pytest.raises(IntegrityError, match="face_box_inside_photo"), transaction.atomic():
        face.save()  # bypasses the service's check: the database refuses it too
    with pytest.raises(IntegrityError, match="face_box_inside_photo"), transaction.atomic():
        Face.objects.filter(pk=face.pk).update(x=box[0], y=box[1], w=box[2], h=box[3])


def test_face_on_the_edge_of_the_photo_is_fine():
    photo = make_photo(data=image_bytes(320, 240))
    face = make_face(photo, box=(270, 190, 50, 50))
    assert face.box == [270, 190, 50, 50]


def test_face_create_refuses_box_outside_and_removes_nothing_else():
    photo = make_photo(data=image_bytes(320, 240))
    with pytest.raises(DomainError, match="outside"):
        make_face(photo, box=(300, 200, 50, 50))
    assert photo.faces.count() == 0
