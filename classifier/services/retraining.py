"""When to retrain: the one policy behind the schedule (``classifier.tasks.retrain_if_needed``)
and the review pages (a training once enough labels arrived)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from classifier.models import ModelVersion, Recognizer, SuggestionRejection, TrainingRun
from classifier.services import runs
from labeling.models import FaceLabel, LabelEvent


def changes_since(version: ModelVersion) -> int:
    """Label changes since ``version`` was made, and rejections when they train as negatives."""
    changes = LabelEvent.objects.filter(created_at__gt=version.created_at).count()
    if settings.IDOLSITE_TRAINING_NEGATIVES:
        changes += SuggestionRejection.objects.filter(created_at__gt=version.created_at).count()
    return changes


def retrain_if_needed(*, min_changes: int | None = None, source: str = "schedule") -> TrainingRun | None:
    """Queue a training of the configured recognizer (IDOLSITE_RECOGNIZER) when it is due.
    The embedding recognizer: after any label change or rejection since its newest model (new
    labels retrain it at once, see ``embedding_retrain_soon``; this is the safety net). The
    network: when there is no usable model, or when at least ``min_changes``
    (IDOLSITE_RETRAIN_MIN_CHANGES) label changes arrived since the active model was made.
    ``source`` begins the run's reason."""
    if settings.IDOLSITE_RECOGNIZER == Recognizer.EMBEDDING:
        if TrainingRun.objects.filter(recognizer=Recognizer.EMBEDDING, status=TrainingRun.Status.QUEUED).exists():
            return None
        if not embedding_changes_since_last():
            return None
        return runs.training_request(reason=f"{source}: labels changed", recognizer=Recognizer.EMBEDDING)
    if TrainingRun.objects.unfinished().filter(recognizer=Recognizer.NETWORK).exists():
        return None
    active = ModelVersion.objects.active()
    if active is None:
        last = TrainingRun.objects.filter(recognizer=Recognizer.NETWORK).order_by("-id").first()
        # No model: try again unless the last attempt already failed on the same labels.
        changes = LabelEvent.objects.filter(created_at__gt=last.created_at).count() if last else None
        if last is not None and last.status != TrainingRun.Status.SUCCEEDED and not changes:
            return None
        return runs.training_request(reason="schedule: no active model", recognizer=Recognizer.NETWORK)
    changes = changes_since(active)
    if changes < (settings.IDOLSITE_RETRAIN_MIN_CHANGES if min_changes is None else min_changes):
        return None
    return runs.training_request(
        reason=f"{source}: {changes} label changes since model {active.pk}", recognizer=Recognizer.NETWORK
    )


def retrain_after_labels() -> TrainingRun | None:
    """Enough label changes since the active model (IDOLSITE_RETRAIN_AFTER_LABELS) queue a
    training; the next model's suggestions replace these once it is active."""
    if ModelVersion.objects.active() is None:  # no model, no review: the schedule trains the first
        return None
    if settings.IDOLSITE_RECOGNIZER == Recognizer.EMBEDDING:
        return None  # the labels' own signal retrains it (embedding_retrain_soon)
    return retrain_if_needed(min_changes=settings.IDOLSITE_RETRAIN_AFTER_LABELS, source="review")


# --- the embedding recognizer: retrained at once --------------------------------------------


def embedding_retrain_soon(*, reason: str) -> TrainingRun | None:
    """Queue a training of the embedding recognizer (seconds, on the default cluster) once at
    least two idols have labels. A run already queued is returned: it reads the labels when it
    starts, so a burst of changes makes one training, and one running gets one successor."""
    if not settings.IDOLSITE_EMBEDDING_AUTO_RETRAIN:
        return None
    if not _two_idols_labeled():
        return None
    return runs.training_request(reason=reason, recognizer=Recognizer.EMBEDDING)


def _two_idols_labeled() -> bool:
    """A softmax needs two idols to tell apart."""
    return FaceLabel.objects.order_by().values("idol_id").distinct()[:2].count() >= 2


def _soon_on_commit(reason: str) -> None:
    if settings.IDOLSITE_EMBEDDING_AUTO_RETRAIN:
        transaction.on_commit(lambda: embedding_retrain_soon(reason=reason))


def on_labels_changed(sender: Any, *, events: list[Any], **kwargs: Any) -> None:
    """labeling's ``labels_changed`` receiver: labels, exclusions, undos and merges."""
    _soon_on_commit(f"{len(events)} label change(s)" if events else "an idol left or came back")


def on_rejections(count: int) -> None:
    """ "Not her" trains as a negative of the next model."""
    if count and settings.IDOLSITE_TRAINING_NEGATIVES:
        _soon_on_commit(f"{count} rejection(s)")


def on_new_training_vectors(count: int) -> None:
    """Labeled faces whose vector just arrived (labels imported with their crops)."""
    _soon_on_commit(f"{count} labeled face(s) embedded")


def embedding_changes_since_last() -> bool:
    """Label changes or rejections since the newest embedding model (the schedule's safety net
    for changes whose training did not run: a worker down, the setting off then on)."""
    last = ModelVersion.objects.filter(kind=Recognizer.EMBEDDING, set_aside=False).order_by("-created_at").first()
    if last is None:
        return _two_idols_labeled()
    return (
        LabelEvent.objects.filter(created_at__gt=last.created_at).exists()
        or SuggestionRejection.objects.filter(created_at__gt=last.created_at).exists()
    )
