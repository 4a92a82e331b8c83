"""When to retrain: the one policy behind the schedule (``classifier.tasks.retrain_if_needed``)
and the review pages (a training once enough labels arrived)."""

from __future__ import annotations

from django.conf import settings

from classifier.models import ModelVersion, SuggestionRejection, TrainingRun
from classifier.services import runs
from labeling.models import LabelEvent


def changes_since(version: ModelVersion) -> int:
    """Label changes since ``version`` was made, and rejections when they train as negatives."""
    changes = LabelEvent.objects.filter(created_at__gt=version.created_at).count()
    if settings.IDOLSITE_TRAINING_NEGATIVES:
        changes += SuggestionRejection.objects.filter(created_at__gt=version.created_at).count()
    return changes


def retrain_if_needed(*, min_changes: int | None = None, source: str = "schedule") -> TrainingRun | None:
    """Queue a training when there is no usable model, or when at least ``min_changes``
    (IDOLSITE_RETRAIN_MIN_CHANGES) label changes arrived since the active model was made.
    ``source`` begins the run's reason."""
    if TrainingRun.objects.unfinished().exists():
        return None
    active = ModelVersion.objects.active()
    if active is None:
        last = TrainingRun.objects.order_by("-id").first()
        # No model: try again unless the last attempt already failed on the same labels.
        changes = LabelEvent.objects.filter(created_at__gt=last.created_at).count() if last else None
        if last is not None and last.status != TrainingRun.Status.SUCCEEDED and not changes:
            return None
        return runs.training_request(reason="schedule: no active model")
    changes = changes_since(active)
    if changes < (settings.IDOLSITE_RETRAIN_MIN_CHANGES if min_changes is None else min_changes):
        return None
    return runs.training_request(reason=f"{source}: {changes} label changes since model {active.pk}")


def retrain_after_labels() -> TrainingRun | None:
    """Enough label changes since the active model (IDOLSITE_RETRAIN_AFTER_LABELS) queue a
    training; the next model's suggestions replace these once it is active."""
    if ModelVersion.objects.active() is None:  # no model, no review: the schedule trains the first
        return None
    return retrain_if_needed(min_changes=settings.IDOLSITE_RETRAIN_AFTER_LABELS, source="review")
