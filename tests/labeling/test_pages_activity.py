"""The activity page and the demo data command."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from faces.models import Face
from labeling import services
from labeling.models import FaceLabel, Idol, IdolAlias, LabelEvent
from tests.factories import make_face, make_idol

pytestmark = pytest.mark.django_db


def test_activity_lists_actions_and_undoes_only_ones_own(client, make_user):
    me, other = make_user("labeler", "me"), make_user("labeler", "other")
    idol = make_idol("Moa")
    services.faces_label(faces=[make_face(), make_face()], idol=idol, user=me)
    services.faces_label(faces=[make_face()], idol=idol, user=other)
    client.force_login(me)
    response = client.get(reverse("labeling:activity"))
    actions = response.context["actions"]
    assert [a.username for a in actions] == ["other", "me"]
    assert "Label added Moa ×2" in actions[1].summary
    assert response.content.decode().count('name="batch"') == 1  # only my action has an undo button
    mine = client.get(reverse("labeling:activity"), {"mine": "1"}).context["actions"]
    assert [a.username for a in mine] == ["me"]
    client.post(reverse("labeling:activity-undo"), {"batch": str(actions[1].batch)})
    assert FaceLabel.objects.filter(created_by=me).count() == 0
    after = {a.batch: a for a in client.get(reverse("labeling:activity")).context["actions"]}
    assert after[actions[1].batch].undone and not after[actions[0].batch].undone
    assert len(after) == 3  # the undo is an action too


def test_seed_demo_data_builds_a_small_world_and_refuses_a_second_run():
    call_command("seed_demo_data", faces=200, idols=30, labels=50, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Face.objects.count() == 200 and Idol.all_objects.count() == 30
    assert FaceLabel.objects.count() == 50 and LabelEvent.objects.count() == 50
    idol = Idol.objects.exclude(reading="").first()
    assert idol.search_text.startswith(idol.name.casefold()) and idol.memberships.exists()
    assert all(i.search_text for i in Idol.all_objects.all())
    assert set(IdolAlias.objects.values_list("idol_id", flat=True)) <= set(
        Idol.all_objects.values_list("pk", flat=True)
    )
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_demo_data", faces=10, idols=2, labels=1)
    call_command("seed_demo_data", faces=10, idols=2, labels=1, force=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Face.objects.count() == 210
