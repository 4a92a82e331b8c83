"""The photo admin shows each face's labels: labeling's part of faces' photo admin."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.urls import reverse

from faces.models import Photo
from labeling import services
from tests.factories import make_face, make_idol, make_photo

pytestmark = pytest.mark.django_db


def test_a_photo_page_lists_the_labels_of_its_faces(client, admin_user):
    photo = make_photo()
    labeled = make_face(photo=photo, box=(10, 10, 50, 60))
    make_face(photo=photo, box=(100, 10, 50, 60))
    services.face_label(face=labeled, idol=make_idol("Moa"))
    client.force_login(admin_user)
    page = client.get(reverse("admin:faces_photo_change", args=[photo.pk])).content.decode()
    cells = [" ".join(cell.split()) for cell in re.findall(r'<td class="field-label_names">(.*?)</td>', page, re.S)]
    assert sorted(cells) == ["<p>-</p>", "<p>Moa</p>"]


def test_detect_again_says_that_labels_are_carried_over():
    action = admin.site.get_model_admin(Photo).get_action("detect_again")
    assert action is not None and action[2] == "Detect faces again (labels are carried over)"
