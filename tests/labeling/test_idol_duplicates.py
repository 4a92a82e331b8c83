"""Likely duplicate idols: idols whose labeled faces coincide with hers, offered for merge on the
idol page (hand-made vectors: no embedder)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from faces.models import FaceEmbedding
from labeling import services
from labeling.duplicates import idol_duplicates
from labeling.models import Idol
from tests.factories import make_embedded_face, make_face, make_idol

pytestmark = pytest.mark.django_db


embedded = make_embedded_face


def labeled(idol: Idol, *heads: tuple[float, ...]) -> Idol:
    for head in heads:
        services.face_label(face=embedded(*head), idol=idol)
    return idol


@pytest.fixture
def pair():
    """Moa and Moa K.: the same person (her faces at 0, 1, 2; hers 0.02 to 0.35 away)."""
    moa = labeled(make_idol("Moa"), (0.0,), (1.0,), (2.0,))
    twin = labeled(make_idol("Moa K."), (0.02,), (1.02,), (2.35,))
    return moa, twin


def test_two_idols_whose_faces_coincide_are_offered_nearest_first(pair):
    moa, twin = pair
    near_enough = labeled(make_idol("Yui"), (0.0, 0.4), (1.0, 0.4), (2.0, 0.4))
    found = idol_duplicates(idol=moa)
    assert [d.idol for d in found] == [twin, near_enough]
    assert found[0].distance == pytest.approx(0.02, abs=1e-4)  # median of 0.02, 0.02, 0.35
    assert (found[0].matched, found[0].of) == (3, 3)
    assert found[1].distance == pytest.approx(0.4, abs=1e-4)
    assert [d.idol for d in idol_duplicates(idol=twin)][:1] == [moa]
    assert [d.idol for d in idol_duplicates(idol=moa, limit=1)] == [twin]


def test_an_idol_whose_faces_are_far_is_not_offered(pair, settings):
    moa, twin = pair
    # One face of hers coincides with one of Rin's; the median over her faces stays far.
    labeled(make_idol("Rin"), (0.0,), (0.0, 2.0), (0.0, 3.0))
    assert [d.idol for d in idol_duplicates(idol=moa)] == [twin]
    settings.IDOLSITE_DUPLICATE_IDOL_DISTANCE = 0.01
    assert idol_duplicates(idol=moa) == []


def test_a_merged_idol_is_not_offered(pair):
    moa, twin = pair
    # Her labels still on her (a merge moves them; here only the reason is tested).
    Idol.all_objects.filter(pk=twin.pk).update(
        deletion_reason=Idol.DeletionReason.MERGED, merged_into=moa, deleted_at=timezone.now()
    )
    assert idol_duplicates(idol=moa) == []


def test_idols_without_vectors_get_nothing(pair):
    moa, _twin = pair
    no_vectors = make_idol("Sana")
    services.face_label(face=make_face(), idol=no_vectors)
    assert idol_duplicates(idol=no_vectors) == []
    assert idol_duplicates(idol=make_idol("Nobody")) == []
    FaceEmbedding.objects.all().delete()
    assert idol_duplicates(idol=moa) == []


def _box(page: str) -> str:
    assert 'id="duplicates"' in page
    return page[page.index('id="duplicates"') : page.index("</section>", page.index('id="duplicates"'))]


def test_an_admin_sees_the_box_with_a_merge_button(client, idol_admin, pair):
    moa, twin = pair
    client.force_login(idol_admin)
    box = _box(client.get(reverse("labeling:idol", args=[moa.pk])).content.decode())
    assert "Maybe the same person" in box and reverse("labeling:idol", args=[twin.pk]) in box
    assert "0.020" in box and "3 of 3 faces match" in box
    assert f'action="{reverse("labeling:idol-merge", args=[moa.pk])}"' in box
    assert f'name="into" value="{twin.pk}"' in box and "Merge into Moa K." in box
    # The button posts the existing merge action: Moa goes into Moa K.
    response = client.post(reverse("labeling:idol-merge", args=[moa.pk]), {"into": twin.pk})
    assert response.status_code == 302
    moa.refresh_from_db()
    assert moa.merged_into_id == twin.pk


def test_a_viewer_sees_the_box_without_the_merge_button(client, viewer, pair):
    moa, twin = pair
    client.force_login(viewer)
    box = _box(client.get(reverse("labeling:idol", args=[moa.pk])).content.decode())
    assert reverse("labeling:idol", args=[twin.pk]) in box
    assert "Merge into" not in box and 'name="into"' not in box


def test_no_box_without_a_candidate(client, viewer):
    alone = labeled(make_idol("Alone"), (0.0,))
    labeled(make_idol("Far"), (2.0,))
    client.force_login(viewer)
    page = client.get(reverse("labeling:idol", args=[alone.pk])).content.decode()
    assert 'id="duplicates"' not in page and "Maybe the same person" not in page
