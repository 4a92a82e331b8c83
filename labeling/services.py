"""Every write to labels, idols and groups. Atomic, keyword-only, and recorded.

A service either does all of its work or raises a DomainError and changes nothing. Every change
to a face's labels or exclusion appends LabelEvents sharing a batch id, so any action can be
traced and undone (``label_batch_undo``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict, DomainError, Forbidden, NotFound
from faces.db import atomic_retrying
from faces.models import Face, Photo
from labeling.models import FaceLabel, How, Idol, IdolAlias, IdolGroup, LabelEvent, Membership
from labeling.text import fold

User = AbstractBaseUser | None


def _user(user: User) -> AbstractBaseUser | None:
    return user if user is not None and user.is_authenticated else None


def _event(
    *,
    face_id: int,
    action: str,
    how: str,
    batch: uuid.UUID,
    user: User,
    idol_id: int | None = None,
    exclusion_reason: str = "",
    undoes: LabelEvent | None = None,
    note: str = "",
) -> LabelEvent:
    return LabelEvent(
        face_id=face_id,
        idol_id=idol_id,
        action=action,
        how=how,
        batch=batch,
        user=_user(user),
        exclusion_reason=exclusion_reason,
        undoes=undoes,
        note=note[:500],
    )


# --- labels ---------------------------------------------------------------------------------


def lock_faces(ids: Iterable[int]) -> dict[int, Face]:
    """Lock the faces' rows, always in id order. Every write to labels or exclusions takes these
    locks before it reads anything, so concurrent actions on overlapping faces queue up instead
    of deadlocking (on the labels' unique index), and each one sees what the one before left."""
    faces = Face.objects.select_related("photo").select_for_update(of=("self",))
    return {face.pk: face for face in faces.filter(pk__in=set(ids)).order_by("pk")}


def _idol_share_locked(pk: int) -> Idol:
    """The idol as it is once no merge, graduation or rename of it is in flight: on PostgreSQL a
    share lock (labelers of one idol do not wait for each other), taken before the faces', in
    the order ``idol_merge`` takes them, so a label never lands on an idol merged meanwhile.
    SQLite runs one writer at a time and needs none."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {Idol._meta.db_table} WHERE id = %s FOR SHARE", [pk])
    return Idol.all_objects.get(pk=pk)


def _check_labelable(face: Face, idol: Idol) -> None:
    if idol.deletion_reason == Idol.DeletionReason.MERGED:
        raise Conflict(
            f"{idol.name} was merged into idol {idol.merged_into_id}; label with that idol", code="merged_idol"
        )
    if face.excluded:
        raise Conflict(
            f"face {face.pk} is excluded ({face.get_exclusion_reason_display()}); include it first",
            code="face_excluded",
        )
    if face.photo.trashed_at is not None:
        raise Conflict(f"face {face.pk} is on a photo in the trash", code="photo_trashed")


@atomic_retrying
def face_label(
    *,
    face: Face,
    idol: Idol,
    user: User = None,
    how: str = How.MANUAL,
    batch: uuid.UUID | None = None,
) -> FaceLabel:
    """Say that ``idol`` is on ``face``. Labeling twice with the same idol changes nothing and
    records nothing (no event carries ``batch`` then)."""
    return faces_label(faces=[face], idol=idol, user=user, how=how, batch=batch)[0]


@atomic_retrying
def faces_label(
    *,
    faces: Iterable[Face],
    idol: Idol,
    user: User = None,
    how: str = How.MANUAL,
    batch: uuid.UUID | None = None,
) -> list[FaceLabel]:
    """Label several faces with one idol at once (bulk naming); one batch, undone together."""
    if how not in FaceLabel.LABEL_HOWS:
        raise DomainError(f"unknown label origin {how!r}", code="invalid")
    faces = list(faces)
    if not faces:
        raise DomainError("no faces given", code="invalid")
    idol = _idol_share_locked(idol.pk)
    locked = lock_faces(f.pk for f in faces)
    missing = [f.pk for f in faces if f.pk not in locked]
    if missing:
        raise NotFound(f"faces not found: {missing}")
    for face in locked.values():
        _check_labelable(face, idol)
    existing = {label.face_id: label for label in FaceLabel.objects.filter(face_id__in=locked, idol=idol)}
    batch = batch or uuid.uuid4()
    new = [
        FaceLabel(face_id=pk, idol=idol, how=how, created_by=_user(user))
        for pk in dict.fromkeys(f.pk for f in faces)
        if pk not in existing
    ]
    FaceLabel.objects.bulk_create(new)
    LabelEvent.objects.bulk_create(
        [
            _event(
                face_id=label.face_id,
                idol_id=idol.pk,
                action=LabelEvent.Action.LABEL_ADDED,
                how=how,
                batch=batch,
                user=user,
            )
            for label in new
        ]
    )
    result = {label.face_id: label for label in FaceLabel.objects.filter(face_id__in=locked, idol=idol)}
    return [result[f.pk] for f in faces]


@atomic_retrying
def face_unlabel(
    *, face: Face, idol: Idol, user: User = None, how: str = How.MANUAL, batch: uuid.UUID | None = None
) -> None:
    """Remove one label from a face."""
    lock_faces([face.pk])
    label = FaceLabel.objects.filter(face=face, idol=idol).first()
    if label is None:
        raise Conflict(f"face {face.pk} has no label {idol.name}", code="not_labeled")
    FaceLabel.objects.filter(pk=label.pk).delete()
    _event(
        face_id=face.pk,
        idol_id=idol.pk,
        action=LabelEvent.Action.LABEL_REMOVED,
        how=how,
        batch=batch or uuid.uuid4(),
        user=user,
        note=f"was {label.how}",
    ).save()


@atomic_retrying
def face_exclude(
    *, face: Face, reason: str, user: User = None, how: str = How.MANUAL, batch: uuid.UUID | None = None
) -> Face:
    """Mark a face as not to be labeled (not a face, someone else, a bad crop).

    The face is kept; its labels are removed and recorded in the same batch, so undoing the
    exclusion brings them back."""
    if reason not in Face.ExclusionReason.values:
        raise DomainError(
            f"unknown exclusion reason {reason!r} (use one of {', '.join(Face.ExclusionReason.values)})",
            code="invalid",
            field="reason",
        )
    face = Face.objects.select_for_update(of=("self",)).get(pk=face.pk)
    if face.excluded:
        raise Conflict(f"face {face.pk} is already excluded", code="already_excluded")
    batch = batch or uuid.uuid4()
    labels = list(FaceLabel.objects.filter(face=face))
    events = [
        _event(
            face_id=face.pk,
            idol_id=label.idol_id,
            action=LabelEvent.Action.LABEL_REMOVED,
            how=how,
            batch=batch,
            user=user,
            note=f"excluded; was {label.how}",
        )
        for label in labels
    ]
    FaceLabel.objects.filter(pk__in=[label.pk for label in labels]).delete()
    face.excluded = True
    face.exclusion_reason = reason
    face.excluded_at = timezone.now()
    face.save(update_fields=["excluded", "exclusion_reason", "excluded_at", "updated_at"])
    events.append(
        _event(
            face_id=face.pk, action=LabelEvent.Action.EXCLUDED, how=how, batch=batch, user=user, exclusion_reason=reason
        )
    )
    LabelEvent.objects.bulk_create(events)
    return face


@atomic_retrying
def face_include(*, face: Face, user: User = None, how: str = How.MANUAL, batch: uuid.UUID | None = None) -> Face:
    """Undo an exclusion: the face is shown and labeled again."""
    face = Face.objects.select_for_update(of=("self",)).get(pk=face.pk)
    if not face.excluded:
        raise Conflict(f"face {face.pk} is not excluded", code="not_excluded")
    reason = face.exclusion_reason
    face.excluded = False
    face.exclusion_reason = ""
    face.excluded_at = None
    face.save(update_fields=["excluded", "exclusion_reason", "excluded_at", "updated_at"])
    _event(
        face_id=face.pk,
        action=LabelEvent.Action.INCLUDED,
        how=how,
        batch=batch or uuid.uuid4(),
        user=user,
        exclusion_reason=reason,
    ).save()
    return face


def _faces_in_order(faces: Iterable[Face]) -> list[Face]:
    faces = list({f.pk: f for f in faces}.values())
    if not faces:
        raise DomainError("no faces given", code="invalid")
    return faces


@atomic_retrying
def faces_unlabel(*, faces: Iterable[Face], idol: Idol, user: User = None) -> uuid.UUID:
    """Remove one idol's label from several faces at once (wrong faces spotted on the idol's
    page); one batch, undone together. Faces without that label are left as they are."""
    faces = _faces_in_order(faces)
    lock_faces(f.pk for f in faces)
    batch = uuid.uuid4()
    has_label = set(
        FaceLabel.objects.filter(face_id__in=[f.pk for f in faces], idol=idol).values_list("face_id", flat=True)
    )
    if not has_label:
        raise Conflict(f"none of these faces is labeled {idol.name}", code="not_labeled")
    for face in faces:
        if face.pk in has_label:
            face_unlabel(face=face, idol=idol, user=user, batch=batch)
    return batch


@atomic_retrying
def faces_exclude(*, faces: Iterable[Face], reason: str, user: User = None) -> uuid.UUID:
    """Exclude several faces at once (``face_exclude`` for each); one batch, undone together.
    Faces already excluded are left as they are."""
    faces = _faces_in_order(faces)
    lock_faces(f.pk for f in faces)
    batch = uuid.uuid4()
    excluded = set(Face.objects.filter(pk__in=[f.pk for f in faces], excluded=True).values_list("pk", flat=True))
    todo = [f for f in faces if f.pk not in excluded]
    if not todo:
        raise Conflict("these faces are excluded already", code="already_excluded")
    for face in todo:
        face_exclude(face=face, reason=reason, user=user, batch=batch)
    return batch


@atomic_retrying
def faces_include(*, faces: Iterable[Face], user: User = None) -> uuid.UUID:
    """Include several excluded faces again; one batch."""
    faces = _faces_in_order(faces)
    lock_faces(f.pk for f in faces)
    batch = uuid.uuid4()
    excluded = set(Face.objects.filter(pk__in=[f.pk for f in faces], excluded=True).values_list("pk", flat=True))
    if not excluded:
        raise Conflict("none of these faces is excluded", code="not_excluded")
    for face in faces:
        if face.pk in excluded:
            face_include(face=face, user=user, batch=batch)
    return batch


@atomic_retrying
def label_batch_undo(*, batch: uuid.UUID, user: User = None, own_only: bool = False) -> uuid.UUID:
    """Undo every event of one action, newest first; returns the batch of the undo itself.

    Refuses a batch that was already undone, or whose face changed since in a way that makes
    the undo ambiguous (the label it would remove is gone, the face it would include is not
    excluded): the error says which. With ``own_only`` (the labeling pages), only an action of
    ``user`` themself can be undone."""
    events = list(LabelEvent.objects.filter(batch=batch).order_by("-id"))
    if not events:
        raise NotFound("nothing to undo: no such action")
    if own_only and (_user(user) is None or any(e.user_id != user.pk for e in events)):  # type: ignore[union-attr]
        raise Forbidden("you can only undo your own actions")
    if any(event.how == How.REDETECT for event in events):
        raise Conflict(
            "labels carried over by re-detection cannot be undone: the old faces are gone", code="not_undoable"
        )
    # Locked before the check: a second undo of the same action, or an action on the same faces,
    # waits here and then sees what this one did.
    lock_faces(event.face_id for event in events)
    if LabelEvent.objects.filter(undoes__in=events).exists():
        raise Conflict("this action was already undone", code="already_undone")
    undo_batch = uuid.uuid4()
    for event in events:
        face = Face.objects.select_related("photo").get(pk=event.face_id)
        if event.action == LabelEvent.Action.LABEL_ADDED:
            deleted, _ = FaceLabel.objects.filter(face=face, idol_id=event.idol_id).delete()
            if not deleted:
                raise Conflict(f"face {face.pk} no longer has that label; nothing was undone")
            action = LabelEvent.Action.LABEL_REMOVED
        elif event.action == LabelEvent.Action.LABEL_REMOVED:
            _, created = FaceLabel.objects.get_or_create(
                face=face,
                idol_id=event.idol_id,
                defaults={"how": _original_how(event), "created_by": _user(user)},
            )
            if not created:
                raise Conflict(f"face {face.pk} has that label again; nothing was undone")
            action = LabelEvent.Action.LABEL_ADDED
        elif event.action == LabelEvent.Action.EXCLUDED:
            if not face.excluded:
                raise Conflict(f"face {face.pk} is no longer excluded; nothing was undone")
            Face.objects.filter(pk=face.pk).update(
                excluded=False, exclusion_reason="", excluded_at=None, updated_at=timezone.now()
            )
            action = LabelEvent.Action.INCLUDED
        else:  # INCLUDED
            if face.excluded:
                raise Conflict(f"face {face.pk} is excluded again; nothing was undone")
            Face.objects.filter(pk=face.pk).update(
                excluded=True,
                exclusion_reason=event.exclusion_reason or Face.ExclusionReason.NOT_A_FACE,
                excluded_at=timezone.now(),
                updated_at=timezone.now(),
            )
            action = LabelEvent.Action.EXCLUDED
        _event(
            face_id=face.pk,
            idol_id=event.idol_id,
            action=action,
            how=How.UNDO,
            batch=undo_batch,
            user=user,
            exclusion_reason=event.exclusion_reason,
            undoes=event,
        ).save()
    return undo_batch


def _original_how(event: LabelEvent) -> str:
    """The origin a removed label had, so an undo restores it as it was."""
    for how in FaceLabel.LABEL_HOWS:
        if event.note.endswith(f"was {how}"):
            return how
    return event.how if event.how in FaceLabel.LABEL_HOWS else How.MANUAL


@transaction.atomic
def labels_carry_over(*, pairs: Iterable[tuple[Face, Face]]) -> dict[str, int]:
    """Re-detection replaced faces: each new face takes over the labels of the old face it
    succeeds, and its exclusion too (except "bad crop": the new crop is another one). Every move
    is recorded as LabelEvents (how: redetect) in one batch. Called for faces.signals
    .faces_redetected (see labeling.receivers); returns counts for the photo's detection info."""
    successor = {old.pk: new for old, new in pairs}
    if not successor:
        return {}
    batch = uuid.uuid4()
    events: list[LabelEvent] = []
    labels = list(FaceLabel.objects.select_for_update().filter(face_id__in=successor).order_by("id"))
    for label in labels:
        new = successor[label.face_id]
        events.append(
            _event(
                face_id=label.face_id,
                idol_id=label.idol_id,
                action=LabelEvent.Action.LABEL_REMOVED,
                how=How.REDETECT,
                batch=batch,
                user=None,
                note=f"moved to face {new.pk} by re-detection; was {label.how}",
            )
        )
        events.append(
            _event(
                face_id=new.pk,
                idol_id=label.idol_id,
                action=LabelEvent.Action.LABEL_ADDED,
                how=How.REDETECT,
                batch=batch,
                user=None,
                note=f"from face {label.face_id} by re-detection",
            )
        )
    FaceLabel.objects.bulk_create(
        [
            FaceLabel(face=successor[lb.face_id], idol_id=lb.idol_id, how=lb.how, created_by_id=lb.created_by_id)
            for lb in labels
        ]
    )
    FaceLabel.objects.filter(pk__in=[lb.pk for lb in labels]).delete()
    excluded = Face.objects.filter(pk__in=successor, excluded=True).exclude(
        exclusion_reason=Face.ExclusionReason.BAD_CROP
    )
    now = timezone.now()
    moved_exclusions = 0
    for old in excluded:
        new = successor[old.pk]
        Face.objects.filter(pk=new.pk).update(
            excluded=True, exclusion_reason=old.exclusion_reason, excluded_at=now, updated_at=now
        )
        events.append(
            _event(
                face_id=new.pk,
                action=LabelEvent.Action.EXCLUDED,
                how=How.REDETECT,
                batch=batch,
                user=None,
                exclusion_reason=old.exclusion_reason,
                note=f"as face {old.pk} was, by re-detection",
            )
        )
        moved_exclusions += 1
    LabelEvent.objects.bulk_create(events)
    return {"labels_carried_over": len(labels), "exclusions_carried_over": moved_exclusions}


# --- idols ----------------------------------------------------------------------------------


def idol_search_text(
    *,
    name: str,
    reading: str = "",
    aliases: Iterable[str] = (),
    handles: dict | None = None,
    groups: Iterable[str] = (),
) -> str:
    """The folded search text: one line each for the name, the reading, the aliases, the
    handles and the groups (names and readings), in that order, without repeats. The first
    lines are the idol's own names: the typeahead ranks a match there first."""
    parts = [name, reading, *aliases, *(str(h) for h in (handles or {}).values() if h), *groups]
    return "\n".join(dict.fromkeys(fold(p) for p in parts if p))


def idol_refresh_search_text(idol: Idol) -> None:
    """Recompute the folded text the typeahead and the admin search: name, reading, aliases,
    handles and every group the idol was ever in."""
    groups = IdolGroup.objects.filter(memberships__idol=idol).values_list("name", "reading").distinct()
    text = idol_search_text(
        name=idol.name,
        reading=idol.reading,
        aliases=IdolAlias.objects.filter(idol=idol).values_list("name", flat=True),
        handles=idol.handles,
        groups=[part for pair in groups for part in pair],
    )
    # updated_at moves too: the typeahead's cache of the idol list watches it.
    Idol.all_objects.filter(pk=idol.pk).update(search_text=text, updated_at=timezone.now())
    idol.search_text = text


def _clean_name(name: str, what: str = "name") -> str:
    name = " ".join((name or "").split())
    if not name:
        raise DomainError(f"the {what} is empty", code="invalid", field=what)
    if len(name) > 200:
        raise DomainError(f"the {what} is longer than 200 characters", code="invalid", field=what)
    return name


def _check_handles(handles: dict | None) -> dict[str, str]:
    if handles is None:
        return {}
    if not isinstance(handles, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in handles.items()):
        raise DomainError(
            'handles must map platform names to handles, e.g. {"x": "name"}', code="invalid", field="handles"
        )
    return {k.strip().lower(): v.strip().lstrip("@") for k, v in handles.items() if k.strip() and v.strip()}


@transaction.atomic
def idol_create(
    *,
    name: str,
    reading: str = "",
    aliases: Iterable[str] = (),
    handles: dict[str, str] | None = None,
    notes: str = "",
    group: IdolGroup | None = None,
    joined: date | None = None,
) -> Idol:
    idol = Idol.objects.create(
        name=_clean_name(name), reading=" ".join(reading.split()), handles=_check_handles(handles), notes=notes
    )
    for alias in dict.fromkeys(" ".join(a.split()) for a in aliases):
        if alias and alias != idol.name:
            IdolAlias.objects.create(idol=idol, name=_clean_name(alias, "alias"), kind=IdolAlias.Kind.OTHER)
    if group is not None:
        Membership.objects.create(idol=idol, group=group, joined=joined)
    idol_refresh_search_text(idol)
    return idol


@transaction.atomic
def idol_update(
    *,
    idol: Idol,
    reading: str | None = None,
    handles: dict | None = None,
    notes: str | None = None,
    aliases: Iterable[str] | None = None,
) -> Idol:
    """Change an idol's details other than the name (see ``idol_rename``). ``aliases``, when
    given, become her aliases: names kept keep their kind (old names stay old names), new ones
    are added, the others go."""
    idol = Idol.all_objects.select_for_update().get(pk=idol.pk)
    if reading is not None:
        idol.reading = " ".join(reading.split())
    if handles is not None:
        idol.handles = _check_handles(handles)
    if notes is not None:
        idol.notes = notes
    idol.save()
    if aliases is not None:
        names = [_clean_name(a, "alias") for a in aliases]
        wanted = [n for n in dict.fromkeys(names) if n != idol.name]
        IdolAlias.objects.filter(idol=idol).exclude(name__in=wanted).delete()
        have = set(IdolAlias.objects.filter(idol=idol).values_list("name", flat=True))
        IdolAlias.objects.bulk_create(
            [IdolAlias(idol=idol, name=n, kind=IdolAlias.Kind.OTHER) for n in wanted if n not in have]
        )
    idol_refresh_search_text(idol)
    return idol


@transaction.atomic
def idol_alias_add(*, idol: Idol, name: str, kind: str = IdolAlias.Kind.OTHER) -> IdolAlias:
    name = _clean_name(name, "alias")
    if name == idol.name:
        raise DomainError("an alias cannot be the idol's own name", code="invalid", field="alias")
    alias, _ = IdolAlias.objects.get_or_create(idol=idol, name=name, defaults={"kind": kind})
    idol_refresh_search_text(idol)
    return alias


@transaction.atomic
def idol_soft_delete(*, idol: Idol, reason: str = Idol.DeletionReason.GRADUATED, user: User = None) -> Idol:
    """Graduate (or retire) an idol: she leaves training and the typeahead, keeps every label,
    and can come back with ``idol_restore``."""
    if reason not in Idol.DeletionReason.values or reason == Idol.DeletionReason.MERGED:
        raise DomainError(
            f"unknown reason {reason!r} (use graduated, retired or other)", code="invalid", field="reason"
        )
    idol = Idol.all_objects.select_for_update().get(pk=idol.pk)
    if idol.is_deleted:
        raise Conflict(f"{idol.name} is already {idol.get_deletion_reason_display().lower()}", code="already_deleted")
    idol.deleted_at = timezone.now()
    idol.deletion_reason = reason
    idol.save(update_fields=["deleted_at", "deletion_reason", "updated_at"])
    return idol


@transaction.atomic
def idol_restore(*, idol: Idol, user: User = None) -> Idol:
    """Bring back a graduated or retired idol, with all her labels."""
    idol = Idol.all_objects.select_for_update().get(pk=idol.pk)
    if not idol.is_deleted:
        raise Conflict(f"{idol.name} is active; nothing to restore", code="not_deleted")
    if idol.deletion_reason == Idol.DeletionReason.MERGED:
        raise Conflict(
            f"{idol.name} was merged into idol {idol.merged_into_id}; a merge cannot be restored", code="merged_idol"
        )
    idol.deleted_at = None
    idol.deletion_reason = ""
    idol.save(update_fields=["deleted_at", "deletion_reason", "updated_at"])
    return idol


@transaction.atomic
def idol_rename(*, idol: Idol, name: str, reading: str | None = None, user: User = None) -> Idol:
    """Rename an idol; the old name becomes an alias, so searching it still finds her."""
    name = _clean_name(name)
    idol = Idol.all_objects.select_for_update().get(pk=idol.pk)
    if name == idol.name:
        raise Conflict(f"{idol.name} already has that name", code="unchanged", field="name")
    old = idol.name
    IdolAlias.objects.filter(idol=idol, name=name).delete()  # the new name is no longer an alias
    IdolAlias.objects.update_or_create(idol=idol, name=old, defaults={"kind": IdolAlias.Kind.OLD_NAME})
    idol.name = name
    if reading is not None:
        idol.reading = " ".join(reading.split())
    idol.save(update_fields=["name", "reading", "updated_at"])
    idol_refresh_search_text(idol)
    return idol


@atomic_retrying
def idol_merge(*, keep: Idol, drop: Idol, user: User = None) -> Idol:
    """Merge ``drop`` into ``keep`` (two records of one person). Every label, alias, handle,
    membership and note of ``drop`` moves to ``keep``; each moved label is recorded; ``drop``
    stays as a deleted idol pointing at ``keep``. Nothing is lost."""
    if keep.pk == drop.pk:
        raise DomainError("an idol cannot be merged into herself", code="invalid")
    # NO KEY UPDATE: labelers adding a label of either idol meanwhile (a key-share lock on the
    # idol) are not blocked while this waits for their faces, so the two cannot deadlock.
    keep = Idol.all_objects.select_for_update(no_key=True).get(pk=keep.pk)
    drop = Idol.all_objects.select_for_update(no_key=True).get(pk=drop.pk)
    for idol in (keep, drop):
        if idol.deletion_reason == Idol.DeletionReason.MERGED:
            raise Conflict(f"{idol.name} was already merged into idol {idol.merged_into_id}", code="merged_idol")
    batch = uuid.uuid4()
    note = f"merged {drop.name} (#{drop.pk}) into {keep.name} (#{keep.pk})"

    # Labels: faces already labeled with keep lose only the duplicate label. Their faces are
    # locked in id order first, as every label change does.
    lock_faces(list(FaceLabel.objects.filter(idol=drop).values_list("face_id", flat=True)))
    labels = list(FaceLabel.objects.filter(idol=drop))
    has_keep = set(
        FaceLabel.objects.filter(idol=keep, face_id__in=[lb.face_id for lb in labels]).values_list("face_id", flat=True)
    )
    events: list[LabelEvent] = []
    for label in labels:
        events.append(
            _event(
                face_id=label.face_id,
                idol_id=drop.pk,
                action=LabelEvent.Action.LABEL_REMOVED,
                how=How.MERGE,
                batch=batch,
                user=user,
                note=f"{note}; was {label.how}",
            )
        )
        if label.face_id not in has_keep:
            events.append(
                _event(
                    face_id=label.face_id,
                    idol_id=keep.pk,
                    action=LabelEvent.Action.LABEL_ADDED,
                    how=How.MERGE,
                    batch=batch,
                    user=user,
                    note=note,
                )
            )
    FaceLabel.objects.filter(idol=drop, face_id__in=has_keep).delete()
    FaceLabel.objects.filter(idol=drop).update(idol=keep)
    LabelEvent.objects.bulk_create(events, batch_size=500)

    # Names: drop's name and aliases become keep's aliases.
    names = {drop.name: IdolAlias.Kind.OTHER, **dict(IdolAlias.objects.filter(idol=drop).values_list("name", "kind"))}
    if drop.reading and drop.reading != keep.reading:
        names.setdefault(drop.reading, IdolAlias.Kind.OTHER)
    taken = set(IdolAlias.objects.filter(idol=keep).values_list("name", flat=True)) | {keep.name}
    IdolAlias.objects.bulk_create([IdolAlias(idol=keep, name=n, kind=k) for n, k in names.items() if n not in taken])

    # Handles: keep's win; drop's other accounts are added, clashing ones go into the notes.
    handles = dict(keep.handles or {})
    extra_notes = []
    for platform, handle in (drop.handles or {}).items():
        if platform not in handles:
            handles[platform] = handle
        elif handles[platform] != handle:
            extra_notes.append(f"{platform}: {handle}")
    keep.handles = handles
    notes = [keep.notes] if keep.notes else []
    if drop.notes:
        notes.append(f"From {drop.name}: {drop.notes}")
    if extra_notes:
        notes.append(f"Other handles of {drop.name}: " + ", ".join(extra_notes))
    keep.notes = "\n\n".join(notes)

    # Memberships: moved; two open ones in the same group become one, joined at the earlier date.
    for membership in Membership.objects.filter(idol=drop).select_related("group"):
        clash = None
        if membership.left is None:
            clash = Membership.objects.filter(idol=keep, group=membership.group, left__isnull=True).first()
        if clash is not None:
            if membership.joined and (clash.joined is None or membership.joined < clash.joined):
                clash.joined = membership.joined
            clash.notes = "; ".join(filter(None, [clash.notes, membership.notes, f"merged from {drop.name}"]))[:500]
            clash.save()
            membership.delete()
        else:
            membership.idol = keep
            membership.save(update_fields=["idol"])

    keep.save()
    drop.deleted_at = timezone.now()
    drop.deletion_reason = Idol.DeletionReason.MERGED
    drop.merged_into = keep
    drop.save(update_fields=["deleted_at", "deletion_reason", "merged_into", "updated_at"])
    idol_refresh_search_text(keep)
    return keep


# --- groups ---------------------------------------------------------------------------------


@transaction.atomic
def group_create(*, name: str, reading: str = "", notes: str = "") -> IdolGroup:
    name = _clean_name(name)
    if IdolGroup.objects.filter(name=name).exists():
        raise Conflict(f"a group named {name} exists already", code="duplicate", field="name")
    return IdolGroup.objects.create(name=name, reading=reading, notes=notes)


@transaction.atomic
def group_update(
    *, group: IdolGroup, name: str | None = None, reading: str | None = None, notes: str | None = None
) -> IdolGroup:
    """Change a group; a new name or reading reaches its members' search text."""
    group = IdolGroup.objects.select_for_update().get(pk=group.pk)
    renamed = False
    if name is not None:
        name = _clean_name(name)
        if IdolGroup.objects.filter(name=name).exclude(pk=group.pk).exists():
            raise Conflict(f"a group named {name} exists already", code="duplicate", field="name")
        renamed = name != group.name
        group.name = name
    if reading is not None:
        renamed = renamed or reading != group.reading
        group.reading = reading
    if notes is not None:
        group.notes = notes
    group.save()
    if renamed:
        refresh_group_members(group)
    return group


@transaction.atomic
def group_delete(*, group: IdolGroup) -> None:
    """Delete a group nobody was ever a member of (memberships are history: end them instead)."""
    if Membership.objects.filter(group=group).exists():
        raise Conflict(f"{group.name} has memberships; delete or keep them, a group with history stays", code="in_use")
    group.delete()


_UNSET: Any = object()


@transaction.atomic
def membership_add(
    *, idol: Idol, group: IdolGroup, joined: date | None = None, left: date | None = None, notes: str = ""
) -> Membership:
    """An idol joins a group (again: a graduated idol can come back, in this group or another)."""
    if joined and left and left < joined:
        raise DomainError("left is before joined", code="invalid", field="left")
    if left is None and Membership.objects.filter(idol=idol, group=group, left__isnull=True).exists():
        raise Conflict(f"{idol.name} is already a member of {group.name}", code="duplicate")
    membership = Membership.objects.create(idol=idol, group=group, joined=joined, left=left, notes=notes)
    idol_refresh_search_text(idol)
    return membership


@transaction.atomic
def membership_end(*, membership: Membership, left: date | None = None) -> Membership:
    left = left or timezone.localdate()
    if membership.left is not None:
        raise DomainError("this membership has ended already", code="invalid")
    if membership.joined and left < membership.joined:
        raise DomainError("left is before joined", code="invalid", field="left")
    membership.left = left
    membership.save(update_fields=["left"])
    idol_refresh_search_text(membership.idol)  # the typeahead shows current groups
    return membership


@transaction.atomic
def membership_update(
    *, membership: Membership, joined: date | None = _UNSET, left: date | None = _UNSET, notes: str | None = None
) -> Membership:
    """Correct a membership's dates or notes (``None`` clears a date; left out: unchanged)."""
    membership = Membership.objects.select_for_update().select_related("idol", "group").get(pk=membership.pk)
    if joined is not _UNSET:
        membership.joined = joined
    if left is not _UNSET:
        membership.left = left
    if notes is not None:
        membership.notes = notes[:500]
    if membership.joined and membership.left and membership.left < membership.joined:
        raise DomainError("left is before joined", code="invalid", field="left")
    if (
        membership.left is None
        and Membership.objects.filter(idol=membership.idol, group=membership.group, left__isnull=True)
        .exclude(pk=membership.pk)
        .exists()
    ):
        raise Conflict(f"{membership.idol.name} is already a member of {membership.group.name}", code="duplicate")
    membership.save()
    idol_refresh_search_text(membership.idol)
    return membership


@transaction.atomic
def membership_delete(*, membership: Membership) -> None:
    """Remove a membership entered by mistake (one that ended is ended, not deleted)."""
    idol = membership.idol
    membership.delete()
    idol_refresh_search_text(idol)


def refresh_group_members(group: IdolGroup) -> None:
    """After a group is renamed: its members' search text names the new name."""
    for idol in Idol.all_objects.filter(Q(memberships__group=group)).distinct():
        idol_refresh_search_text(idol)


# --- imports --------------------------------------------------------------------------------


def face_import(*, data: bytes, idol: Idol, original_name: str = "", user: User = None) -> FaceLabel:
    """A ready face crop becomes a photo with one face covering it, labeled with ``idol``
    (how: import). All of it or nothing: rows and files. The photo goes through the duplicate
    rules of every way in (``faces.services.photo_intake``) but the perceptual hash (aligned crops
    of one person are alike by construction): a copy of a stored photo raises DuplicatePhoto (its
    sighting recorded), one of a trashed photo TrashedBefore."""
    from faces.images import decode_image, square_crop
    from faces.services import atomic_with_files, face_create, photo_intake

    decoded = decode_image(data)
    with atomic_with_files() as files:
        intake = photo_intake(
            data=data,
            original_name=original_name,
            status=Photo.Status.DETECTED,
            detector="import",
            tracker=files,
            near_copies=False,
        )
        if intake.outcome == "new":
            photo = intake.photo
            Photo.all_objects.filter(pk=photo.pk).update(detected_at=timezone.now())
            face = face_create(
                photo=photo,
                box=(0, 0, photo.width, photo.height),
                crop_jpeg=square_crop(decoded.image),
                detector="import",
                score=1.0,
                tracker=files,
            )
            return face_label(face=face, idol=idol, user=user, how=How.IMPORT)
    raise intake.error()  # after the block: the sighting of a duplicate stays
