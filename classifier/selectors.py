"""The classifier's reads: open suggestions in a review mode's order, counts per idol, the
calibration table, the open clusters of unknown faces. The writes are ``classifier.services``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from classifier.models import FaceCluster, FaceClusterMember, ModelVersion, Suggestion, SuggestionRejection
from core.errors import DomainError
from labeling.models import FaceLabel, Idol


class Mode:
    CONFIDENT = "confident"  # most confident first: quick gains
    UNCERTAIN = "uncertain"  # least confident first: most informative
    MARGIN = "margin"  # smallest margin between the top two first: most informative
    MISTAKES = "mistakes"  # labeled faces where the model strongly prefers another idol

    CHOICES = (
        (CONFIDENT, "Most confident first"),
        (UNCERTAIN, "Least confident first"),
        (MARGIN, "Smallest margin first"),
        (MISTAKES, "Possible mistakes"),
    )
    ALL = tuple(c for c, _ in CHOICES)


def suggestions_for(
    *, mode: str = Mode.CONFIDENT, idol: Idol | int | None = None, version: ModelVersion | None = None
) -> QuerySet[Suggestion]:
    """Open suggestions of the active model (or ``version``), for one idol or all, in the
    mode's order. Rows carry their face, photo and idol."""
    if mode not in Mode.ALL:
        raise DomainError(f"mode must be one of {', '.join(Mode.ALL)}", code="invalid", field="mode")
    version = version or ModelVersion.objects.active()
    if version is None:
        return Suggestion.objects.none()
    rows = Suggestion.objects.filter(model_version=version)
    if mode == Mode.MISTAKES:
        same = FaceLabel.objects.filter(face=OuterRef("face"), idol=OuterRef("idol"))
        labeled = FaceLabel.objects.filter(face=OuterRef("face"))
        rows = (
            rows.filter(
                status=Suggestion.Status.PENDING,
                idol__isnull=False,
                face__excluded=False,
                face__photo__trashed_at__isnull=True,
                probability__gte=settings.IDOLSITE_MISTAKE_PROBABILITY,
            )
            .filter(Q(idol__deleted_at__isnull=True) | Q(idol__deletion_reason__in=Idol.RECOGNIZABLE_REASONS))
            .filter(Exists(labeled), ~Exists(same))
        )
    else:
        rows = rows.pending()
    if idol is not None:
        rows = rows.filter(idol=idol)
    order = {
        Mode.CONFIDENT: ["-probability", "id"],
        Mode.UNCERTAIN: ["probability", "id"],
        Mode.MARGIN: ["margin", "id"],
        Mode.MISTAKES: ["-probability", "id"],
    }[mode]
    return rows.select_related("face", "face__photo", "idol").order_by(*order)


def idol_counts(version: ModelVersion | None = None) -> list[tuple[int, str, int, str]]:
    """(idol id, name, open suggestions, deletion reason or "") of every idol with some, most first."""

    version = version or ModelVersion.objects.active()
    if version is None:
        return []
    rows = (
        Suggestion.objects.filter(model_version=version)
        .pending()
        .values("idol_id", "idol__name", "idol__deletion_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "idol__name")
    )
    return [(r["idol_id"], r["idol__name"], r["n"], r["idol__deletion_reason"]) for r in rows]


def next_suggestions(face_ids: list[int]) -> list[dict[str, Any]]:
    """The active model's suggestion of each face (after a rejection: its next idol)."""
    rows = Suggestion.objects.filter(face_id__in=face_ids, model_version__is_active=True).select_related("idol")
    return [
        {
            "id": r.face_id,
            "idol": r.idol_id,
            "name": r.idol.name if r.idol else None,
            "idol_status": r.idol.status if r.idol else None,
            "probability": r.probability,
        }
        for r in rows
    ]


def labels_of(face_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    for face_id, name in FaceLabel.objects.filter(face_id__in=face_ids).values_list("face_id", "idol__name"):
        out[face_id].append(name)
    return out


BUCKETS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@dataclass
class Bucket:
    low: float
    high: float
    accepted: int = 0
    rejected: int = 0

    @property
    def reviewed(self) -> int:
        return self.accepted + self.rejected

    @property
    def rate(self) -> float | None:
        return self.accepted / self.reviewed if self.reviewed else None

    def as_json(self) -> dict[str, Any]:
        rate = self.rate
        return {
            "low": self.low,
            "high": self.high,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "acceptance_rate": None if rate is None else round(rate, 4),
        }


@dataclass
class Stats:
    version: ModelVersion | None
    accepted: int
    rejected: int
    pending: int
    buckets: list[Bucket]

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.version.pk if self.version else None,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "pending": self.pending,
            "calibration": [b.as_json() for b in self.buckets],
        }


def _bucket_of(p: float) -> int:
    index = 0
    for i, low in enumerate(BUCKETS):
        if p >= low:
            index = i
    return index


def review_stats(version: ModelVersion | None = None) -> Stats:
    """Accepted and rejected suggestions of a version, and the acceptance rate per probability
    bucket (the calibration table that tells where bulk accepting is safe)."""
    version = version or ModelVersion.objects.active()
    buckets = [Bucket(low, BUCKETS[i + 1] if i + 1 < len(BUCKETS) else 1.0) for i, low in enumerate(BUCKETS)]
    if version is None:
        return Stats(None, 0, 0, 0, buckets)
    accepted = list(
        Suggestion.objects.filter(model_version=version, status=Suggestion.Status.ACCEPTED).values_list(
            "probability", flat=True
        )
    )
    rejected = list(
        SuggestionRejection.objects.filter(model_version=version, probability__isnull=False).values_list(
            "probability", flat=True
        )
    )
    for p in accepted:
        buckets[_bucket_of(p)].accepted += 1
    for p in rejected:
        buckets[_bucket_of(p)].rejected += 1
    pending = Suggestion.objects.filter(model_version=version).pending().count()
    return Stats(version, len(accepted), len(rejected), pending, buckets)


def open_clusters() -> QuerySet[FaceCluster]:
    """Open clusters of unknown faces, biggest first, with their faces (no model needed: they
    come from the face embeddings)."""
    return (
        FaceCluster.objects.filter(named_at__isnull=True)
        .annotate(size=Count("members"))
        .prefetch_related(Prefetch("members", queryset=FaceClusterMember.objects.select_related("face", "face__photo")))
        .order_by("-size", "id")
    )
