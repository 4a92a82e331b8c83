from __future__ import annotations

import datetime

import pytest
from django.db import IntegrityError, transaction

from core.errors import DomainError
from faces import services as face_services
from faces.models import Face
from labeling import services
from labeling.models import FaceLabel, How, Idol, IdolAlias, LabelEvent, Membership
from labeling.text import fold
from tests.factories import make_face, make_group, make_idol

pytestmark = pytest.mark.django_db


# --- labels ---------------------------------------------------------------------------------


def test_label_records_event_and_is_idempotent(user):
    face, idol = make_face(), make_idol("Haruka")
    label = services.face_label(face=face, idol=idol, user=user)
    assert label.how == How.MANUAL and label.created_by == user
    again = services.face_label(face=face, idol=idol, user=user)
    assert again.pk == label.pk
    events = list(LabelEvent.objects.filter(face_id=face.pk))
    assert [(e.action, e.idol_id, e.user_id) for e in events] == [(LabelEvent.Action.LABEL_ADDED, idol.pk, user.pk)]


def test_face_can_carry_several_labels_but_each_idol_once():
    face = make_face()
    a, b = make_idol("A"), make_idol("B")
    services.face_label(face=face, idol=a)
    services.face_label(face=face, idol=b)
    assert set(face.labels.values_list("idol__name", flat=True)) == {"A", "B"}
    with pytest.raises(IntegrityError), transaction.atomic():
        FaceLabel.objects.create(face=face, idol=a)


def test_bulk_label_is_one_batch_undone_together(user):
    faces = [make_face() for _ in range(5)]
    idol = make_idol()
    services.faces_label(faces=faces, idol=idol, user=user)
    batches = set(LabelEvent.objects.values_list("batch", flat=True))
    assert len(batches) == 1 and LabelEvent.objects.count() == 5
    services.label_batch_undo(batch=batches.pop(), user=user)
    assert FaceLabel.objects.count() == 0
    assert LabelEvent.objects.filter(how=How.UNDO, action=LabelEvent.Action.LABEL_REMOVED).count() == 5


def test_undo_twice_is_refused_and_changes_nothing():
    face, idol = make_face(), make_idol()
    services.face_label(face=face, idol=idol)
    label_batch = LabelEvent.objects.get().batch
    services.label_batch_undo(batch=label_batch)
    count = LabelEvent.objects.count()
    with pytest.raises(DomainError, match="already undone"):
        services.label_batch_undo(batch=label_batch)
    assert LabelEvent.objects.count() == count


def test_undo_of_an_undo_restores_the_label_with_its_origin():
    face, idol = make_face(), make_idol()
    services.face_label(face=face, idol=idol, how=How.IMPORT)
    services.face_unlabel(face=face, idol=idol)
    removal = LabelEvent.objects.filter(action=LabelEvent.Action.LABEL_REMOVED).get()
    services.label_batch_undo(batch=removal.batch)
    assert FaceLabel.objects.get(face=face, idol=idol).how == How.IMPORT


def test_unlabel_missing_label_raises_and_changes_nothing():
    face, idol = make_face(), make_idol()
    with pytest.raises(DomainError, match="has no label"):
        services.face_unlabel(face=face, idol=idol)
    assert not LabelEvent.objects.exists()


def test_labeling_excluded_face_or_trashed_photo_is_refused():
    face, idol = make_face(), make_idol()
    services.face_exclude(face=face, reason=Face.ExclusionReason.NOT_A_FACE)
    with pytest.raises(DomainError, match="excluded"):
        services.face_label(face=face, idol=idol)
    other = make_face()
    face_services.photo_trash(photo=other.photo)
    with pytest.raises(DomainError, match="trash"):
        services.face_label(face=other, idol=idol)
    assert not FaceLabel.objects.exists()


def test_bulk_label_with_one_bad_face_labels_none():
    good, bad = make_face(), make_face()
    services.face_exclude(face=bad, reason=Face.ExclusionReason.NOT_A_FACE)
    events_before = LabelEvent.objects.count()
    with pytest.raises(DomainError):
        services.faces_label(faces=[good, bad], idol=make_idol())
    assert not FaceLabel.objects.exists()
    assert LabelEvent.objects.count() == events_before


def test_exclude_removes_labels_and_undo_brings_them_back(user):
    face = make_face()
    a, b = make_idol("A"), make_idol("B")
    services.face_label(face=face, idol=a)
    services.face_label(face=face, idol=b, how=How.SUGGESTION)
    services.face_exclude(face=face, reason=Face.ExclusionReason.NOT_A_TARGET, user=user)
    face.refresh_from_db()
    assert face.excluded and face.exclusion_reason == "not_target" and not face.labels.exists()
    batch = LabelEvent.objects.filter(action=LabelEvent.Action.EXCLUDED).get().batch
    services.label_batch_undo(batch=batch, user=user)
    face.refresh_from_db()
    assert not face.excluded and face.exclusion_reason == ""
    assert dict(face.labels.values_list("idol__name", "how")) == {"A": How.MANUAL, "B": How.SUGGESTION}


def test_exclude_with_unknown_reason_is_refused():
    face = make_face()
    with pytest.raises(DomainError, match="unknown exclusion reason"):
        services.face_exclude(face=face, reason="ugly")
    face.refresh_from_db()
    assert not face.excluded


def test_include_again_and_exclusion_constraint():
    face = make_face()
    services.face_exclude(face=face, reason=Face.ExclusionReason.BAD_CROP)
    services.face_include(face=face)
    face.refresh_from_db()
    assert not face.excluded
    with pytest.raises(DomainError, match="not excluded"):
        services.face_include(face=face)
    with pytest.raises(IntegrityError), transaction.atomic():
        Face.objects.filter(pk=face.pk).update(excluded=True)  # no reason: the database refuses


def test_label_events_are_append_only():
    services.face_label(face=make_face(), idol=make_idol())
    event = LabelEvent.objects.get()
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        LabelEvent.objects.all().delete()
    with pytest.raises(TypeError):
        LabelEvent.objects.update(note="rewritten")


def test_history_outlives_a_purged_photo():
    face, idol = make_face(), make_idol()
    services.face_label(face=face, idol=idol)
    face_services.photo_trash(photo=face.photo)
    face_services.photo_purge(photo=face.photo)
    assert LabelEvent.objects.filter(face_id=face.pk).count() == 1


# --- idols ----------------------------------------------------------------------------------


def test_graduated_idol_leaves_default_manager_but_keeps_labels():
    face, idol = make_face(), make_idol("Miku")
    services.face_label(face=face, idol=idol)
    services.idol_soft_delete(idol=idol, reason=Idol.DeletionReason.GRADUATED)
    assert not Idol.objects.filter(pk=idol.pk).exists()
    assert Idol.all_objects.get(pk=idol.pk).deletion_reason == "graduated"
    assert FaceLabel.objects.get(face=face).idol_id == idol.pk
    with pytest.raises(DomainError, match="already"):
        services.idol_soft_delete(idol=idol)


def test_graduated_idol_comes_back_in_another_group():
    first, second = make_group("First"), make_group("Second")
    idol = make_idol("Rina", group=first, joined=datetime.date(2020, 1, 1))
    membership = Membership.objects.get(idol=idol)
    services.membership_end(membership=membership, left=datetime.date(2023, 3, 31))
    services.idol_soft_delete(idol=idol)
    services.idol_restore(idol=idol)
    services.membership_add(idol=idol, group=second, joined=datetime.date(2024, 4, 1))
    assert Idol.objects.filter(pk=idol.pk).exists()
    assert list(idol.memberships.values_list("group__name", "left")) == [
        ("First", datetime.date(2023, 3, 31)),
        ("Second", None),
    ]
    assert "second" in Idol.objects.get(pk=idol.pk).search_text


def test_restore_active_idol_is_refused():
    with pytest.raises(DomainError, match="active"):
        services.idol_restore(idol=make_idol())


def test_membership_rules():
    idol, group = make_idol(), make_group()
    services.membership_add(idol=idol, group=group)
    with pytest.raises(DomainError, match="already a member"):
        services.membership_add(idol=idol, group=group)
    with pytest.raises(DomainError, match="before joined"):
        services.membership_add(
            idol=idol, group=make_group(), joined=datetime.date(2024, 1, 2), left=datetime.date(2024, 1, 1)
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(idol=idol, group=group)  # a second open membership


def test_rename_keeps_old_name_findable():
    idol = make_idol("Old Name", reading="おーるど")
    services.idol_rename(idol=idol, name="New Name")
    idol.refresh_from_db()
    assert idol.name == "New Name"
    assert IdolAlias.objects.get(idol=idol).kind == IdolAlias.Kind.OLD_NAME
    assert "old name" in idol.search_text and "new name" in idol.search_text
    with pytest.raises(DomainError, match="already has that name"):
        services.idol_rename(idol=idol, name="New Name")
    with pytest.raises(DomainError, match="empty"):
        services.idol_rename(idol=idol, name="   ")
    # Renaming back: the new name leaves the aliases, the previous one joins them.
    services.idol_rename(idol=idol, name="Old Name")
    assert list(IdolAlias.objects.filter(idol=idol).values_list("name", flat=True)) == ["New Name"]


def test_search_text_folds_kana_and_width():
    idol = make_idol("遥", reading="ハルカ", aliases=["ﾊﾙﾁｬﾝ"], handles={"x": "@Haruka_X"})
    assert fold("はるか") in idol.search_text
    assert fold("ﾊﾙｶ") == fold("はるか") == fold("ハルカ")
    assert "はるちゃん" in idol.search_text and "haruka_x" in idol.search_text


def test_merge_moves_everything_and_loses_nothing(user):
    keep = make_idol("Saki", reading="さき", handles={"x": "saki"})
    drop = make_idol(
        "Saki (dup)",
        reading="サキ",
        aliases=["Sakky"],
        handles={"x": "saki_alt", "instagram": "saki.ig"},
        notes="from import",
    )
    group = make_group()
    services.membership_add(idol=drop, group=group, joined=datetime.date(2021, 5, 1))
    shared_face, own_face = make_face(), make_face()
    services.face_label(face=shared_face, idol=keep)
    services.face_label(face=shared_face, idol=drop)
    services.face_label(face=own_face, idol=drop, how=How.IMPORT)
    labeled_faces_before = set(FaceLabel.objects.values_list("face_id", flat=True))

    services.idol_merge(keep=keep, drop=drop, user=user)

    keep.refresh_from_db()
    drop = Idol.all_objects.get(pk=drop.pk)
    assert drop.deletion_reason == "merged" and drop.merged_into_id == keep.pk
    assert set(FaceLabel.objects.values_list("face_id", flat=True)) == labeled_faces_before
    assert not FaceLabel.objects.filter(idol=drop).exists()
    assert FaceLabel.objects.get(face=own_face).how == How.IMPORT  # the moved label keeps its origin
    assert set(IdolAlias.objects.filter(idol=keep).values_list("name", flat=True)) == {"Saki (dup)", "Sakky", "サキ"}
    assert keep.handles == {"x": "saki", "instagram": "saki.ig"}
    assert "saki_alt" in keep.notes and "from import" in keep.notes
    assert Membership.objects.get(group=group).idol_id == keep.pk
    assert LabelEvent.objects.filter(how=How.MERGE).count() == 3  # 2 removed from drop, 1 added to keep
    assert "sakky" in keep.search_text
    with pytest.raises(DomainError, match="already merged"):
        services.idol_merge(keep=keep, drop=drop)
    with pytest.raises(DomainError, match="herself"):
        services.idol_merge(keep=keep, drop=keep)
    with pytest.raises(DomainError, match="merged"):
        services.idol_restore(idol=drop)
    with pytest.raises(DomainError, match="merged"):
        services.face_label(face=make_face(), idol=drop)


def test_merge_joins_two_open_memberships_in_one_group():
    group = make_group()
    keep = make_idol("K", group=group, joined=datetime.date(2022, 1, 1))
    drop = make_idol("D", group=group, joined=datetime.date(2020, 1, 1))
    services.idol_merge(keep=keep, drop=drop)
    membership = Membership.objects.get()
    assert membership.idol_id == keep.pk and membership.joined == datetime.date(2020, 1, 1)


def test_failed_merge_changes_nothing(monkeypatch):
    keep, drop = make_idol("K"), make_idol("D")
    face = make_face()
    services.face_label(face=face, idol=drop)

    def boom(idol):
        raise RuntimeError("disk full")

    monkeypatch.setattr("labeling.services.idols.idol_refresh_search_text", boom)
    with pytest.raises(RuntimeError):
        services.idol_merge(keep=keep, drop=drop)
    assert FaceLabel.objects.get(face=face).idol_id == drop.pk
    assert Idol.objects.filter(pk=drop.pk).exists()
    assert LabelEvent.objects.count() == 1


def test_idol_create_validates():
    with pytest.raises(DomainError, match="empty"):
        services.idol_create(name=" ")
    with pytest.raises(DomainError, match="handles"):
        services.idol_create(name="X", handles={"x": 3})
    assert not Idol.all_objects.exists()
