"""The classifier's reads: open suggestions in a review mode's order, counts per idol, the
calibration table, the open clusters of unknown faces, a training run's per-idol table. The
writes are ``classifier.services``."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext, gettext_lazy

from classifier.models import (
    FaceCluster,
    FaceClusterMember,
    ModelVersion,
    Recognizer,
    Suggestion,
    SuggestionRejection,
)
from core.errors import DomainError
from labeling.models import FaceLabel, Idol


class Mode:
    CONFIDENT = "confident"  # most confident first: quick gains
    UNCERTAIN = "uncertain"  # least confident first: most informative
    MARGIN = "margin"  # smallest margin between the top two first: most informative
    MISTAKES = "mistakes"  # labeled faces where the model strongly prefers another idol

    CHOICES = (
        (CONFIDENT, gettext_lazy("Most confident first")),
        (UNCERTAIN, gettext_lazy("Least confident first")),
        (MARGIN, gettext_lazy("Smallest margin first")),
        (MISTAKES, gettext_lazy("Possible mistakes")),
    )
    ALL = tuple(c for c, _ in CHOICES)


def suggestions_for(
    *, mode: str = Mode.CONFIDENT, idol: Idol | int | None = None, version: ModelVersion | None = None
) -> QuerySet[Suggestion]:
    """Open suggestions of the active model (or ``version``), for one idol or all, in the
    mode's order. Rows carry their face, photo and idol."""
    if mode not in Mode.ALL:
        raise DomainError(
            gettext("mode must be one of %(modes)s") % {"modes": ", ".join(Mode.ALL)}, code="invalid", field="mode"
        )
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
                labeled_other=True,
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
    if mode == Mode.CONFIDENT and version.kind == Recognizer.EMBEDDING:
        # Faces far from every labeled face of their best idol (a stranger, most likely) are
        # no confident guess, whatever the softmax says: they wait in the other modes. (The
        # network's "unknown" is a low probability, which this order puts last anyway.)
        rows = rows.filter(unknown=False)
    if idol is not None:
        rows = rows.filter(idol=idol)
    order = {
        Mode.CONFIDENT: ["-probability", "id"],
        Mode.UNCERTAIN: ["probability", "id"],
        Mode.MARGIN: ["margin", "id"],
        Mode.MISTAKES: ["-probability", "id"],
    }[mode]
    return rows.select_related("face", "face__photo", "idol").order_by(*order)


PENDING_CAP = 1000  # the review page's open count stops here: "more than 1,000 open"


def pending_count(
    version: ModelVersion | None = None, *, idol: Idol | None = None, cap: int | None = None
) -> tuple[int, bool]:
    """Open suggestions of ``version`` (the active model's by default), of one idol or all:
    (count, more). With ``cap`` the count stops after ``cap`` rows (``more`` is then true):
    an exact count reads every open suggestion."""
    version = version or ModelVersion.objects.active()
    if version is None:
        return 0, False
    rows = Suggestion.objects.filter(model_version=version).pending()
    if idol is not None:
        rows = rows.filter(idol=idol)
    if cap is None:
        return rows.count(), False
    n = rows.order_by().values("pk")[: cap + 1].count()
    return min(n, cap), n > cap


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
    pending_more: bool = False  # more than ``pending`` open (a capped count)

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.version.pk if self.version else None,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "pending": self.pending,
            "calibration": [b.as_json() for b in self.buckets],
        }


def _bucket_counts(rows: QuerySet[Any]) -> list[int]:
    """How many of ``rows`` fall in each probability bucket, in one query."""
    counts = {
        f"b{i}": Count(
            "pk",
            filter=Q(probability__gte=low) & (Q(probability__lt=BUCKETS[i + 1]) if i + 1 < len(BUCKETS) else Q()),
        )
        for i, low in enumerate(BUCKETS)
    }
    n = rows.order_by().aggregate(**counts)
    return [n[f"b{i}"] for i in range(len(BUCKETS))]


def review_stats(version: ModelVersion | None = None, *, pending_cap: int | None = None) -> Stats:
    """Accepted and rejected suggestions of a version, and the acceptance rate per probability
    bucket (the calibration table that tells where bulk accepting is safe). ``pending_cap``:
    see ``pending_count``."""
    version = version or ModelVersion.objects.active()
    buckets = [Bucket(low, BUCKETS[i + 1] if i + 1 < len(BUCKETS) else 1.0) for i, low in enumerate(BUCKETS)]
    if version is None:
        return Stats(None, 0, 0, 0, buckets)
    accepted = _bucket_counts(Suggestion.objects.filter(model_version=version, status=Suggestion.Status.ACCEPTED))
    rejected = _bucket_counts(SuggestionRejection.objects.filter(model_version=version, probability__isnull=False))
    for bucket, a, r in zip(buckets, accepted, rejected, strict=True):
        bucket.accepted, bucket.rejected = a, r
    pending, more = pending_count(version, cap=pending_cap)
    return Stats(version, sum(accepted), sum(rejected), pending, buckets, pending_more=more)


def open_clusters() -> QuerySet[FaceCluster]:
    """Open clusters of unknown faces, biggest first, with their faces (no model needed: they
    come from the face embeddings)."""
    return (
        FaceCluster.objects.filter(named_at__isnull=True)
        .annotate(size=Count("members"))
        .prefetch_related(Prefetch("members", queryset=FaceClusterMember.objects.select_related("face", "face__photo")))
        .order_by("-size", "id")
    )


# --- suggestions beside the faces of a page (the grid and the photo page) ---------------------

FACE_SUGGESTIONS_SHOWN = 3


def face_suggestions(face_ids: list[int], *, shown: int = FACE_SUGGESTIONS_SHOWN) -> list[dict[str, Any]]:
    """What the active model says of each of ``face_ids`` that is visible and unlabeled: its
    first ``shown`` idols, best first, without those rejected for the face and without idols
    the recognizer no longer knows (merged, deleted by mistake); graduated and retired idols
    stay, marked by ``idol_status``. Probabilities are rescaled as
    ``classifier.services.suggestions.rank`` does, so the first equals the row's own. An
    "unknown" row keeps its list (the page names no one). Faces without a row are left out.

    Three queries whatever the number of faces: the rows, the rejections, the idols."""
    if not face_ids:
        return []
    rows = (
        Suggestion.objects.filter(
            face_id__in=face_ids,
            model_version__is_active=True,
            face__excluded=False,
            face__photo__trashed_at__isnull=True,
            # Any status: an accepted row of a face without labels is an acceptance undone.
            face__labels__isnull=True,
        )
        .order_by("face_id", "-model_version_id")
        .values("face_id", "model_version_id", "top", "unknown")
    )
    latest: dict[int, dict[str, Any]] = {}
    for row in rows:
        latest.setdefault(row["face_id"], row)
    if not latest:
        return []
    rejected: dict[int, set[int]] = defaultdict(set)
    for face_id, idol_id in SuggestionRejection.objects.filter(face_id__in=list(latest)).values_list(
        "face_id", "idol_id"
    ):
        rejected[face_id].add(idol_id)
    wanted = {g["idol"] for row in latest.values() for g in row["top"]}
    idols = {
        i.pk: i
        for i in Idol.all_objects.recognizable()
        .filter(pk__in=wanted)
        .only("id", "name", "deleted_at", "deletion_reason")
    }
    out = []
    for face_id in dict.fromkeys(face_ids):
        row = latest.get(face_id)
        if row is None:
            continue
        no = rejected[face_id]
        # As rank() does: "not these idols" leaves the others their share of what is left.
        left = 1.0 - sum(g["p"] for g in row["top"] if g["idol"] in no)
        scale = 1.0 / left if left > 1e-6 else 1.0
        kept = [g for g in row["top"] if g["idol"] in idols and g["idol"] not in no][:shown]
        guesses = [
            {
                "idol": g["idol"],
                "name": idols[g["idol"]].name,
                "idol_status": idols[g["idol"]].status,
                "probability": round(min(1.0, g["p"] * scale), 4),
            }
            for g in kept
        ]
        out.append({"face": face_id, "model": row["model_version_id"], "unknown": row["unknown"], "top": guesses})
    return out


# The run page's per-idol table: the columns it sorts by, and the order each starts in.
PER_CLASS_SORTS = ("name", "precision", "recall", "f1", "support")
PER_CLASS_ORDERS = ("asc", "desc")


def _folded(text: str) -> str:
    """Case- and width-insensitive form of a name: "ＡＫＢ" and "akb" match."""
    return unicodedata.normalize("NFKC", text).casefold()


def per_class_figure(row: dict[str, Any], key: str) -> Any:
    """A figure of a per-idol row, or None where it is undefined: recall and f1 of an idol with
    no validation face, precision of one the model never named (0 in the metrics)."""
    if key in ("recall", "f1") and not row.get("support"):
        return None
    if key == "precision" and row.get("predicted", 1) == 0:
        return None
    return row.get(key)


def per_class_rows(
    metrics: dict[str, Any], *, sort: str = "recall", order: str = "asc", query: str = ""
) -> list[dict[str, Any]]:
    """A run's per-idol figures whose name holds ``query``, sorted by ``sort`` (then by name),
    the undefined figures last either way. The default, lowest recall first, puts the idols the
    model misses most at the top."""
    if sort not in PER_CLASS_SORTS:
        raise DomainError(
            gettext("sort must be one of %(sorts)s") % {"sorts": ", ".join(PER_CLASS_SORTS)},
            code="invalid",
            field="sort",
        )
    if order not in PER_CLASS_ORDERS:
        raise DomainError(
            gettext("order must be one of %(orders)s") % {"orders": ", ".join(PER_CLASS_ORDERS)},
            code="invalid",
            field="order",
        )
    needle = _folded(query.strip())
    rows = []
    for row in metrics.get("per_class") or []:
        if needle and needle not in _folded(row["name"]):
            continue
        shown = dict(row)
        for key in ("precision", "recall", "f1"):
            shown[key] = per_class_figure(row, key)
        rows.append(shown)
    descending = order == "desc"
    if sort == "name":
        return sorted(rows, key=lambda row: _folded(row["name"]), reverse=descending)
    # By name within equal figures in either order, so that a page boundary is stable.
    rows.sort(key=lambda row: _folded(row["name"]))
    defined = sorted((row for row in rows if row[sort] is not None), key=lambda row: row[sort], reverse=descending)
    return defined + [row for row in rows if row[sort] is None]
