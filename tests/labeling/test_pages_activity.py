"""The activity page and the demo data command."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from faces.models import Face
from labeling import selectors, services
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
    assert actions[1].summary == "labeled 2 faces as Moa"
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


def test_each_kind_of_action_reads_as_a_sentence_undos_too(client, make_user):
    """The summary follows the user's name: "me labeled 2 faces as Moa", "me undid labeling 2
    faces as Moa", never "Label removed Moa ×2 (undo, 2 faces)"."""
    me = make_user("labeler", "me")
    moa = make_idol("Moa")
    a, b, c = make_face(), make_face(), make_face()
    label = uuid.uuid4()
    services.faces_label(faces=[a, b], idol=moa, user=me, batch=label)
    services.label_batch_undo(batch=label, user=me)
    services.faces_label(faces=[c], idol=moa, user=me)
    services.faces_unlabel(faces=[c], idol=moa, user=me)
    exclude = services.faces_exclude(faces=[a, b], reason="not_target", user=me)
    services.label_batch_undo(batch=exclude, user=me)
    services.faces_exclude(faces=[b], reason="not_face", user=me)
    services.faces_include(faces=[b], user=me)
    summaries = [action.summary for action in selectors.recent_actions()][::-1]
    assert summaries == [
        "labeled 2 faces as Moa",
        "undid labeling 2 faces as Moa",
        "labeled 1 face as Moa",
        "removed Moa from 1 face",
        "excluded 2 faces (not a target)",
        "undid excluding 2 faces",
        "excluded 1 face (not a face)",
        "included 1 face again",
    ]
    client.force_login(me)
    text = client.get(reverse("labeling:activity")).content.decode()
    assert "<strong>me</strong> undid labeling 2 faces as Moa" in text


def test_undoing_a_removal_and_a_merge_read_naturally(make_user):
    me = make_user("labeler", "me")
    moa, yui = make_idol("Moa"), make_idol("Yui")
    face = make_face()
    services.faces_label(faces=[face], idol=moa, user=me)
    removal = services.faces_unlabel(faces=[face], idol=moa, user=me)
    services.label_batch_undo(batch=removal, user=me)
    services.idol_merge(keep=yui, drop=moa, user=me)
    latest = selectors.recent_actions()
    assert latest[1].summary == "undid removing Moa from 1 face"
    assert latest[0].summary == "took Moa off 1 face (idol merge); moved 1 label to Yui (idol merge)"
