"""Labels and exclusions of faces: label, unlabel, exclude and include, one face or many, and
the undo of any such action. Every write locks the faces' rows first (``lock_faces``) and runs
again on a transient conflict (``atomic_retrying``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import Conflict, DomainError, Forbidden, NotFound
from faces.db import atomic_retrying
from faces.models import Face
from labeling.models import FaceLabel, How, Idol, LabelEvent
from labeling.services._common import User, _event, _user


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
            gettext("%(name)s was merged into idol %(into)s; label with that idol")
            % {"name": idol.name, "into": idol.merged_into_id},
            code="merged_idol",
        )
    if face.excluded:
        raise Conflict(
            gettext("face %(face)s is excluded (%(reason)s); include it first")
            % {"face": face.pk, "reason": face.get_exclusion_reason_display()},
            code="face_excluded",
        )
    if face.photo.trashed_at is not None:
        raise Conflict(gettext("face %(face)s is on a photo in the trash") % {"face": face.pk}, code="photo_trashed")


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
        raise DomainError(gettext("unknown label origin %(how)r") % {"how": how}, code="invalid")
    faces = list(faces)
    if not faces:
        raise DomainError(gettext("no faces given"), code="invalid")
    idol = _idol_share_locked(idol.pk)
    locked = lock_faces(f.pk for f in faces)
    missing = [f.pk for f in faces if f.pk not in locked]
    if missing:
        raise NotFound(gettext("faces not found: %(ids)s") % {"ids": missing})
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
        raise Conflict(
            gettext("face %(face)s has no label %(name)s") % {"face": face.pk, "name": idol.name}, code="not_labeled"
        )
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
            gettext("unknown exclusion reason %(reason)r (use one of %(reasons)s)")
            % {"reason": reason, "reasons": ", ".join(Face.ExclusionReason.values)},
            code="invalid",
            field="reason",
        )
    face = Face.objects.select_for_update(of=("self",)).get(pk=face.pk)
    if face.excluded:
        raise Conflict(gettext("face %(face)s is already excluded") % {"face": face.pk}, code="already_excluded")
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
        raise Conflict(gettext("face %(face)s is not excluded") % {"face": face.pk}, code="not_excluded")
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
        raise DomainError(gettext("no faces given"), code="invalid")
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
        raise Conflict(gettext("none of these faces is labeled %(name)s") % {"name": idol.name}, code="not_labeled")
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
        raise Conflict(gettext("these faces are excluded already"), code="already_excluded")
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
        raise Conflict(gettext("none of these faces is excluded"), code="not_excluded")
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
        raise NotFound(gettext("nothing to undo: no such action"))
    if own_only and (_user(user) is None or any(e.user_id != user.pk for e in events)):  # type: ignore[union-attr]
        raise Forbidden(gettext("you can only undo your own actions"))
    if any(event.how == How.REDETECT for event in events):
        raise Conflict(
            gettext("labels carried over by re-detection cannot be undone: the old faces are gone"),
            code="not_undoable",
        )
    # Locked before the check: a second undo of the same action, or an action on the same faces,
    # waits here and then sees what this one did.
    lock_faces(event.face_id for event in events)
    if LabelEvent.objects.filter(undoes__in=events).exists():
        raise Conflict(gettext("this action was already undone"), code="already_undone")
    undo_batch = uuid.uuid4()
    for event in events:
        face = Face.objects.select_related("photo").get(pk=event.face_id)
        if event.action == LabelEvent.Action.LABEL_ADDED:
            deleted, _ = FaceLabel.objects.filter(face=face, idol_id=event.idol_id).delete()
            if not deleted:
                raise Conflict(
                    gettext("face %(face)s no longer has that label; nothing was undone") % {"face": face.pk}
                )
            action = LabelEvent.Action.LABEL_REMOVED
        elif event.action == LabelEvent.Action.LABEL_REMOVED:
            _, created = FaceLabel.objects.get_or_create(
                face=face,
                idol_id=event.idol_id,
                defaults={"how": _original_how(event), "created_by": _user(user)},
            )
            if not created:
                raise Conflict(gettext("face %(face)s has that label again; nothing was undone") % {"face": face.pk})
            action = LabelEvent.Action.LABEL_ADDED
        elif event.action == LabelEvent.Action.EXCLUDED:
            if not face.excluded:
                raise Conflict(gettext("face %(face)s is no longer excluded; nothing was undone") % {"face": face.pk})
            Face.objects.filter(pk=face.pk).update(
                excluded=False, exclusion_reason="", excluded_at=None, updated_at=timezone.now()
            )
            action = LabelEvent.Action.INCLUDED
        else:  # INCLUDED
            if face.excluded:
                raise Conflict(gettext("face %(face)s is excluded again; nothing was undone") % {"face": face.pk})
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
