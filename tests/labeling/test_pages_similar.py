"""The idol page's "Find her in other photos": the unlabeled faces nearest to her labeled faces,
with their distance, selectable and labeled with the grid's label action."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from labeling import services
from labeling.models import FaceLabel
from tests.factories import make_embedded_face, make_face, make_idol

pytestmark = pytest.mark.django_db


embedded = make_embedded_face


@pytest.fixture
def her(labeler):
    idol = make_idol("Moa")
    services.face_label(face=embedded(0.0), idol=idol, user=labeler)
    return idol


def _section(page: str) -> str:
    return page[page.index('id="similar"') :]


def test_the_idol_page_lists_her_likely_faces_nearest_first_with_the_distance(client, labeler, her):
    far, near = embedded(0.41), embedded(0.12)
    labeled_other = embedded(0.05)
    services.face_label(face=labeled_other, idol=make_idol("Yui"), user=labeler)
    too_far = embedded(0.9)
    client.force_login(labeler)
    section = _section(client.get(reverse("labeling:idol", args=[her.pk])).content.decode())
    assert "Find her in other photos" in section and "Label these as her" in section
    assert section.index(f'data-face="{near.pk}"') < section.index(f'data-face="{far.pk}"')
    assert "0.120" in section and "0.410" in section
    assert f'data-face="{labeled_other.pk}"' not in section and f'data-face="{too_far.pk}"' not in section
    assert f'name="face" value="{near.pk}"' in section
    assert reverse("labeling:photo", args=[near.photo_id]) in section


def test_a_viewer_sees_the_faces_without_the_label_button(client, viewer, her):
    near = embedded(0.1)
    client.force_login(viewer)
    section = _section(client.get(reverse("labeling:idol", args=[her.pk])).content.decode())
    assert f'data-face="{near.pk}"' in section
    assert "Label these as her" not in section and 'name="face"' not in section


def test_the_section_says_why_it_is_empty(client, labeler):
    client.force_login(labeler)
    idol = make_idol()
    page = client.get(reverse("labeling:idol", args=[idol.pk])).content.decode()
    assert "No unlabeled face is near her labeled faces." in _section(page)
    services.face_label(face=make_face(), idol=idol, user=labeler)
    page = client.get(reverse("labeling:idol", args=[idol.pk])).content.decode()
    assert "None of her labeled faces has an embedding yet." in _section(page)


def test_the_ticked_faces_are_labeled_her_with_the_grids_action(client, labeler, her):
    faces = [embedded(0.1), embedded(0.2)]
    client.force_login(labeler)
    response = client.post(
        reverse("labeling:api-label"),
        json.dumps({"face_ids": [f.pk for f in faces], "idol": her.pk}),
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["batch"]
    assert FaceLabel.objects.filter(idol=her, face__in=faces).count() == 2
    section = _section(client.get(reverse("labeling:idol", args=[her.pk])).content.decode())
    assert not any(f'data-face="{f.pk}"' in section for f in faces)


def test_the_similar_faces_page_shows_grid_cards_nearest_first_with_distances(client, viewer):
    query, far, near = embedded(0.0), embedded(0.7), embedded(0.2)
    client.force_login(viewer)
    page = client.get(reverse("labeling:face-similar", args=[query.pk])).content.decode()
    grid = page[page.index("data-grid") :]
    assert grid.index(f'id="face-{near.pk}"') < grid.index(f'id="face-{far.pk}"')
    assert f'id="face-{query.pk}"' not in grid
    assert ">0.200</span>" in grid and ">0.700</span>" in grid


def test_the_similar_faces_page_of_a_face_without_a_vector_says_so_and_an_unknown_face_is_404(client, viewer):
    embedded(0.0)
    client.force_login(viewer)
    page = client.get(reverse("labeling:face-similar", args=[make_face().pk])).content.decode()
    assert "This face has no embedding yet." in page
    assert client.get(reverse("labeling:face-similar", args=[999999])).status_code == 404


def test_the_photo_page_links_each_face_to_its_similar_faces(client, viewer):
    face = embedded(0.0)
    client.force_login(viewer)
    page = client.get(reverse("labeling:photo", args=[face.photo_id])).content.decode()
    assert reverse("labeling:face-similar", args=[face.pk]) in page
