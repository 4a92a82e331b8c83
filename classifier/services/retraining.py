"""When to retrain: the one policy behind the schedule (``classifier.tasks.retrain_if_needed``)
and the review pages (a training once enough labels arrived).

No automatic training starts while photos or faces are still coming in (waiting for detection
or for their vector), nor, for a recognizer's first model, before the labels settled: a model of
half the data would be replaced at once, and a network's costs hours. Such a training waits
explicitly: a one-off schedule (``WAIT_SCHEDULE``) checks again until it may start. Trainings
people start (the admin, the API, ``manage.py train``) never wait."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from classifier.models import ModelVersion, Recognizer, SuggestionRejection, TrainingRun
from classifier.services import runs
from faces.backlog import BUSY_LIMIT, pipeline_busy
from labeling.models import FaceLabel, LabelEvent

log = logging.getLogger(__name__)

# The django-q schedule of a waiting training: one row, moved on while the wait goes on.
WAIT_SCHEDULE = "classifier: a training waits for the import"
# How often a training waiting for detection or embeddings looks again.
RECHECK_SECONDS = 60


@dataclass(frozen=True)
class TrainingWait:
    """What an automatic training waits for: photos to be detected, faces to get their vector,
    seconds until the labels count as settled (a first model only)."""

    photos: int = 0
    faces: int = 0
    settle_seconds: int = 0

    def __bool__(self) -> bool:
        return bool(self.photos or self.faces or self.settle_seconds)

    def reasons(self) -> list[str]:
        def shown(n: int) -> str:
            return f"{n:,}+" if n >= BUSY_LIMIT else f"{n:,}"

        out = []
        if self.photos:
            out.append(
                ngettext(
                    "waiting for %(count)s photo to be detected",
                    "waiting for %(count)s photos to be detected",
                    self.photos,
                )
                % {"count": shown(self.photos)}
            )
        if self.faces:
            out.append(
                ngettext(
                    "waiting for %(count)s face to get its embedding",
                    "waiting for %(count)s faces to get their embeddings",
                    self.faces,
                )
                % {"count": shown(self.faces)}
            )
        if self.settle_seconds:
            out.append(
                gettext("waiting for labels to settle (%(seconds)s s without a change)")
                % {"seconds": settings.IDOLSITE_TRAINING_SETTLE_SECONDS}
            )
        return out

    def recheck_in(self) -> int:
        """Seconds until it is worth looking again."""
        if self.photos or self.faces:
            return max(RECHECK_SECONDS, self.settle_seconds)
        return self.settle_seconds + 1


def first_model(recognizer: str) -> bool:
    """No usable model of this recognizer was ever made."""
    return not ModelVersion.objects.filter(kind=recognizer, set_aside=False).exists()


def training_wait(*, first: bool, now: datetime | None = None) -> TrainingWait:
    """What keeps an automatic training from starting now (falsy: nothing). ``first``: the
    recognizer has no model yet, so the labels must also have been quiet for
    IDOLSITE_TRAINING_SETTLE_SECONDS."""
    now = now or timezone.now()
    busy = pipeline_busy(now=now)
    settle = 0
    if first and settings.IDOLSITE_TRAINING_SETTLE_SECONDS:
        last = LabelEvent.objects.order_by("-created_at").values_list("created_at", flat=True).first()
        if last is not None:
            quiet = (now - last).total_seconds()
            settle = max(0, math.ceil(settings.IDOLSITE_TRAINING_SETTLE_SECONDS - quiet))
    return TrainingWait(photos=busy.photos, faces=busy.faces, settle_seconds=settle)


def _may_start(recognizer: str, *, reason: str) -> bool:
    """True when an automatic training of ``recognizer`` may start now; otherwise it waits: the
    check is scheduled again (``retrain_after_wait``), so the training still happens once the
    import is done."""
    wait = training_wait(first=first_model(recognizer))
    if not wait:
        return True
    _recheck_later(wait)
    log.info("automatic %s training (%s) waits: %s", recognizer, reason, "; ".join(wait.reasons()))
    return False


RECHECK_SLACK_SECONDS = 5


def _recheck_later(wait: TrainingWait) -> None:
    from django_q.models import Schedule

    at = timezone.now() + timedelta(seconds=wait.recheck_in())
    # Every label of a busy minute asks for the check again: the row is written only when the
    # time moves by more than a few seconds, not by every labeler at once (a lock they all queue
    # on, and which slowed every label of a busy session).
    current = Schedule.objects.filter(name=WAIT_SCHEDULE).values_list("next_run", flat=True).first()
    if current is not None and abs((current - at).total_seconds()) < RECHECK_SLACK_SECONDS:
        return
    Schedule.objects.update_or_create(
        name=WAIT_SCHEDULE,
        defaults={
            "func": "classifier.tasks.retrain_after_wait",
            "schedule_type": Schedule.ONCE,
            "repeats": -1,
            "next_run": at,
        },
    )


def wait_recheck_at() -> datetime | None:
    """When the waiting training looks again, or None when no training waits."""
    from django_q.models import Schedule

    return Schedule.objects.filter(name=WAIT_SCHEDULE).values_list("next_run", flat=True).first()


def retrain_after_wait() -> list[TrainingRun]:
    """The waiting training's own check (its schedule): each automatic training that is due
    starts now, or waits again."""
    started = []
    if (
        settings.IDOLSITE_EMBEDDING_AUTO_RETRAIN
        and settings.IDOLSITE_RECOGNIZER != Recognizer.EMBEDDING
        and embedding_changes_since_last()
    ):
        started.append(embedding_retrain_soon(reason="after waiting: labels changed"))
    started.append(retrain_if_needed(source="after waiting"))
    return [run for run in started if run is not None]


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
        if not _may_start(Recognizer.EMBEDDING, reason=source):
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
        if not _may_start(Recognizer.NETWORK, reason=source):
            return None
        return runs.training_request(reason=f"{source}: no active model", recognizer=Recognizer.NETWORK)
    changes = changes_since(active)
    if changes < (settings.IDOLSITE_RETRAIN_MIN_CHANGES if min_changes is None else min_changes):
        return None
    if not _may_start(Recognizer.NETWORK, reason=source):
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
    if not _may_start(Recognizer.EMBEDDING, reason=reason):
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
