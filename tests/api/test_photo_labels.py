"""labeling's part of faces' photos endpoint: each face's labels, and ``?idol=``."""

from __future__ import annotations

import pytest

from labeling import services
from tests.factories import make_face, make_idol, make_photo

pytestmark = pytest.mark.django_db


def test_photos_filter_by_idol_and_show_the_labels_of_each_face(viewer_api):
    idol, other = make_idol("Moa"), make_idol("Yui")
    photo = make_photo()
    labeled = make_face(photo=photo, box=(10, 10, 50, 60))
    make_face(photo=photo, box=(100, 10, 50, 60))
    services.face_label(face=labeled, idol=idol)
    services.face_label(face=make_face(), idol=other)
    make_photo()

    listed = viewer_api.get(f"/api/photos/?idol={idol.pk}").json()["results"]
    assert [p["id"] for p in listed] == [photo.pk]

    detail = viewer_api.get(f"/api/photos/{photo.pk}/").json()
    assert [[(label["idol"], label["name"]) for label in f["labels"]] for f in detail["faces"]] == [
        [(idol.pk, "Moa")],
        [],
    ]


def test_a_face_drawn_by_hand_is_answered_with_its_labels(labeler_api):
    photo = make_photo()
    response = labeler_api.post(f"/api/photos/{photo.pk}/faces/", {"box": [10, 20, 40, 40]}, format="json")
    assert response.status_code == 201 and response.json()["labels"] == []
