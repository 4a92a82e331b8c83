"""labeling's reactions to what faces does, and to its own label events, connected in
LabelingConfig.ready().

faces may not import labeling (dependencies point classifier -> labeling -> faces), so faces
announces re-detection with a signal and labeling moves its own data.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.cache import cache
from django.db import transaction

from faces.models import Face
from labeling import selectors, services


def carry_labels_over(sender: Any, *, pairs: list[tuple[Face, Face]], **kwargs: Any) -> dict[str, int]:
    return services.labels_carry_over(pairs=pairs)


def keep_labeled_faces(sender: Any, *, faces: list[Face], **kwargs: Any) -> set[int]:
    """Re-detection deletes old faces without a successor, but never a labeled one."""
    if not faces:
        return set()
    return set(
        Face.objects.filter(pk__in=[face.pk for face in faces], labels__isnull=False).values_list("pk", flat=True)
    )


def keep_unlabeled_total(sender: Any, *, events: list[Any], **kwargs: Any) -> None:
    """labels_changed: the kept count of unlabeled faces moves by what these events changed,
    once their transaction commits (a rollback moves nothing). Nothing kept: nothing to do."""
    if not events or cache.get(selectors.UNLABELED_TOTAL_KEY) is None:
        return
    delta = selectors.unlabeled_delta(events)
    if delta:
        transaction.on_commit(lambda: _move_unlabeled_total(delta))


def _move_unlabeled_total(delta: int) -> None:
    with contextlib.suppress(ValueError):  # expired meanwhile: the next page counts afresh
        cache.incr(selectors.UNLABELED_TOTAL_KEY, delta)
