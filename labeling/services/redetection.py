"""Re-detection replaced a photo's faces: labels and exclusions move to the new faces."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from faces.models import Face
from labeling.models import FaceLabel, How, LabelEvent
from labeling.services._common import _event


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
