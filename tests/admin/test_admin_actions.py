"""The admin's bulk actions: a row the service refuses is a warning, the others go on."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from faces.models import Face
from labeling import services
from labeling.models import Idol
from tests.factories import make_face, make_idol

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def test_graduating_a_selection_with_a_graduated_idol_warns_and_graduates_the_others(admin_client):
    active, graduated = make_idol("Moa"), make_idol("Yui")
    services.idol_soft_delete(idol=graduated)
    url = reverse("admin:labeling_idol_changelist") + "?status=any"
    response = admin_client.post(url, {"action": "graduate", "_selected_action": [active.pk, graduated.pk]})
    assert Idol.all_objects.get(pk=active.pk).deletion_reason == "graduated"
    assert messages_of(response) == [
        ("warning", "Yui is already graduated"),
        ("success", "1 idol(s) marked graduated; their labels are kept."),
    ]


def test_restoring_only_active_idols_says_no_success(admin_client):
    active = make_idol("Moa")
    url = reverse("admin:labeling_idol_changelist")
    response = admin_client.post(url, {"action": "restore", "_selected_action": [active.pk]})
    assert messages_of(response) == [("warning", "Moa is active; nothing to restore")]


def test_face_actions_count_the_faces_they_changed(admin_client):
    face, excluded = make_face(), make_face()
    services.face_exclude(face=excluded, reason=Face.ExclusionReason.NOT_A_FACE)
    url = reverse("admin:faces_face_changelist")
    response = admin_client.post(url, {"action": "exclude_not_face", "_selected_action": [face.pk, excluded.pk]})
    assert messages_of(response) == [
        ("warning", f"face {excluded.pk} is already excluded"),
        ("success", "1 face(s) excluded."),
    ]
    response = admin_client.post(url, {"action": "include_again", "_selected_action": [face.pk, excluded.pk]})
    assert messages_of(response)[-1] == ("success", "2 face(s) included again.")
