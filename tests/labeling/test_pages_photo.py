"""The photo page: boxes drawn and labeled, a face added by hand, exclusion."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.urls import reverse
from PIL import Image

from core.errors import DomainError
from faces import services as face_services
from faces.models import Face
from labeling import services
from tests.factories import make_face, make_idol, make_photo

pytestmark = pytest.mark.django_db


def media_files() -> set[str]:
    root = settings.MEDIA_ROOT
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def test_photo_page_draws_every_face_with_its_labels(as_labeler):
    photo = make_photo()
    a = make_face(photo=photo, box=(10, 10, 40, 40))
    b = make_face(photo=photo, box=(100, 50, 60, 60))
    excluded = make_face(photo=photo, box=(200, 100, 50, 50))
    services.face_label(face=a, idol=make_idol("Moa"))
    services.face_exclude(face=excluded, reason=Face.ExclusionReason.NOT_A_FACE)
    page = as_labeler.get(reverse("labeling:photo", args=[photo.pk])).content.decode()
    for face in (a, b, excluded):
        assert f'data-box-face="{face.pk}"' in page
        assert f"--x: {face.x}; --y: {face.y}; --w: {face.w}; --h: {face.h};" in page
    assert ">Moa</span>" in page and "✕ Not a face" in page
    assert f'id="face-{b.pk}"' in page and f'id="face-{excluded.pk}"' not in page  # no card for it


def test_a_box_drawn_by_hand_becomes_a_face_with_its_crop(as_labeler):
    photo = make_photo(data=None)
    response = as_labeler.post(
        reverse("labeling:photo-face-add", args=[photo.pk]), {"x": 20, "y": 30, "w": 64, "h": 80}
    )
    assert response.status_code == 302
    face = Face.objects.get(photo=photo)
    assert (face.box, face.detector, face.score) == ([20, 30, 64, 80], "manual", 1.0)
    with face.crop.open("rb") as handle:
        crop = Image.open(io.BytesIO(handle.read()))
        assert crop.size == (settings.IDOLSITE_CROP_SIZE, settings.IDOLSITE_CROP_SIZE)
    assert response["Location"].endswith(f"#face-{face.pk}")


@pytest.mark.parametrize(
    "box",
    [
        {"x": -1, "y": 0, "w": 20, "h": 20},
        {"x": 310, "y": 0, "w": 20, "h": 20},  # leaves the 320 x 240 photo
        {"x": 0, "y": 230, "w": 20, "h": 20},
        {"x": 0, "y": 0, "w": 0, "h": 20},
        {"x": 0, "y": 0, "w": 4, "h": 4},  # too small to be a face
        {"x": "a", "y": 0, "w": 20, "h": 20},
        {"x": 0, "y": 0, "w": 20},
    ],
)
def test_bad_boxes_are_refused_and_nothing_is_written(as_labeler, box):
    photo = make_photo()
    files = media_files()
    response = as_labeler.post(reverse("labeling:photo-face-add", args=[photo.pk]), box)
    assert response.status_code == 400
    assert not Face.objects.filter(photo=photo).exists()
    assert media_files() == files


def test_a_failed_insert_leaves_no_crop_file(monkeypatch):
    photo = make_photo()
    files = media_files()

    def boom(**kwargs):
        kwargs["tracker"].save("crops/xx/partial.jpg", b"half")
        raise DomainError("the database said no")

    monkeypatch.setattr("faces.services.faces.face_create", boom)
    with pytest.raises(DomainError):
        face_services.face_add_manual(photo=photo, box=(10, 10, 40, 40))
    assert media_files() == files and not Face.objects.exists()


def test_no_face_is_drawn_on_a_trashed_photo():
    photo = make_photo()
    face_services.photo_trash(photo=photo)
    with pytest.raises(DomainError, match="trash"):
        face_services.face_add_manual(photo=photo, box=(10, 10, 40, 40))


def test_the_crop_is_cut_from_the_exif_oriented_photo(as_labeler):
    # Stored sideways: left half red, right half blue, with EXIF "rotate 90 CW" (6). Upright,
    # the photo is 100 x 200 with red on top and blue below.
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    image.paste((0, 0, 255), (100, 0, 200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    photo = make_photo(data=buffer.getvalue())
    assert (photo.width, photo.height) == (100, 200)
    face = face_services.face_add_manual(photo=photo, box=(30, 140, 40, 40))
    with face.crop.open("rb") as handle:
        r, _g, b = Image.open(io.BytesIO(handle.read())).convert("RGB").resize((1, 1)).getpixel((0, 0))
    assert b > 200 and r < 50


def test_excluding_from_the_photo_page_keeps_the_face_and_hides_it(as_labeler):
    photo = make_photo()
    face = make_face(photo=photo)
    services.face_label(face=face, idol=make_idol())
    url = reverse("labeling:photo-face-exclude", args=[photo.pk, face.pk])
    assert as_labeler.post(url, {"reason": "not_target"}).status_code == 302
    face.refresh_from_db()
    assert face.excluded and face.exclusion_reason == "not_target" and not face.labels.exists()
    grid = as_labeler.get(reverse("labeling:grid"), {"status": "all"})
    assert face.pk not in [f.pk for f in grid.context["faces"]]
    page = as_labeler.get(reverse("labeling:photo", args=[photo.pk])).content.decode()
    assert "Include again" in page and "Not a target" in page
    as_labeler.post(reverse("labeling:photo-face-include", args=[photo.pk, face.pk]))
    face.refresh_from_db()
    assert not face.excluded


def test_viewer_sees_the_photo_but_no_drawing_or_exclude_forms(client, viewer):
    photo = make_photo()
    make_face(photo=photo)
    client.force_login(viewer)
    page = client.get(reverse("labeling:photo", args=[photo.pk])).content.decode()
    assert "data-draw" not in page and "Add this face" not in page and "Exclude</button>" not in page
    assert client.get(reverse("labeling:photo", args=[999999])).status_code == 404
