"""Active learning (issue 7): the model suggests, people confirm.

Writes (services, keyword-only, atomic) and reads (selectors) of suggestions:

- :func:`suggest_faces` predicts faces with one model version and stores a :class:`Suggestion`
  per (face, version): the top-1 idol after leaving out the idols people rejected for that
  face, its probability and margin, the top-5 and the embedding. It replaces the open rows of
  other versions for the faces it covers. ``classifier.tasks.suggest`` calls it.
- :func:`suggestions_accept` turns suggestions into labels (``how=suggestion``, one batch,
  undone with ``label_batch_undo``); :func:`suggestions_reject` remembers "not this idol"
  (:class:`SuggestionRejection`, forever) and moves the face's suggestion to its next idol.
- :func:`suggestion_page` orders the open suggestions for the review page and the API;
  :func:`review_stats` counts accepted and rejected suggestions per version and buckets them by
  probability (the calibration table).

Rejections are negatives three ways: a rejected idol is never suggested again for the face, the
face's top list is re-ranked without it, and the next training learns "not her" from the faces
that have no label yet (``classifier.dataset``, ``IDOLSITE_TRAINING_NEGATIVES``); they count as
changes for the retraining they trigger.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from classifier.models import ModelVersion, Suggestion, SuggestionRejection, TrainingRun
from core.errors import DomainError, NotFound
from faces.db import atomic_retrying
from faces.models import Face
from labeling.models import FaceLabel, How, Idol, LabelEvent

User = AbstractBaseUser | None

TOP = 5


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


def _user(user: User) -> AbstractBaseUser | None:
    return user if user is not None and user.is_authenticated else None


# --- predicting -----------------------------------------------------------------------------


def rank(top: Sequence[dict[str, Any]], rejected: set[int]) -> tuple[int | None, float, float]:
    """The suggested idol, its probability and margin from a top list, rejected idols left out.
    The probability is the model's given what people said: "not these idols" leaves the others
    their share of what is left, p / (1 - the rejected idols' p). On two late active-learning
    pools (bench/README.md, run I) the 48 faces most likely right by it were right 69% and 65% of
    the time, by the raw p 60% and 65%; the 96 most likely, 57% and 62% (raw 56% and 56%)."""
    kept = [g for g in top if g["idol"] not in rejected]
    if not kept:
        return None, 0.0, 0.0
    left = 1.0 - sum(g["p"] for g in top if g["idol"] in rejected)
    scale = 1.0 / left if left > 1e-6 else 1.0
    best = min(1.0, kept[0]["p"] * scale)
    second = min(1.0, kept[1]["p"] * scale) if len(kept) > 1 else 0.0
    return kept[0]["idol"], round(best, 4), round(best - second, 4)


def _rejected_of(face_ids: Iterable[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = defaultdict(set)
    for face_id, idol_id in SuggestionRejection.objects.filter(face_id__in=list(face_ids)).values_list(
        "face_id", "idol_id"
    ):
        out[face_id].add(idol_id)
    return out


def ensemble_members(version: ModelVersion, size: int | None = None) -> list[tuple[ModelVersion, Any]]:
    """The models that suggest with ``version``: the newest earlier versions (trained before it,
    active or not, not set aside) that know the same idols, up to ``size`` - 1 of them
    (``IDOLSITE_SUGGEST_ENSEMBLE``), with their loaded classifiers. Models trained on other
    data disagree on the faces they are wrongly sure of: on the second active-learning round,
    averaging it with the first model took its 96 most confident guesses of the unlabeled faces
    from 80% right to 97% (bench/README.md)."""
    from classifier.model import load_classifier

    size = settings.IDOLSITE_SUGGEST_ENSEMBLE if size is None else size
    if size <= 1:
        return []
    classes = set(version.class_idol_ids)
    members = []
    earlier = ModelVersion.objects.filter(set_aside=False, pk__lt=version.pk).order_by("-id")
    for other in earlier[: 4 * size]:  # a few more, for those of other idols
        if set(other.class_idol_ids) != classes:
            continue
        classifier = load_classifier(other)
        if classifier is not None and list(classifier.class_idol_ids) == list(other.class_idol_ids):
            members.append((other, classifier))
        if len(members) == size - 1:
            break
    return members


def _aligned(classifier: Any, pixels: Any, class_ids: list[int | None]) -> Any:
    """An ensemble member's probabilities, its columns in the order of ``class_ids``."""
    import numpy as np

    probabilities, _ = classifier.predict_with_embeddings(pixels)
    column = {idol_id: i for i, idol_id in enumerate(classifier.class_idol_ids)}
    return np.asarray(probabilities)[:, [column[i] for i in class_ids]]


def suggest_faces(
    *,
    version: ModelVersion,
    face_ids: Iterable[int] | None = None,
    classifier: Any = None,
    batch_size: int | None = None,
    members: list[tuple[ModelVersion, Any]] | None = None,
) -> int:
    """Predict visible faces (all, or ``face_ids``) with ``version`` and store their suggestions,
    in batches, each batch its own transaction. The probabilities are the average of
    ``version``'s and those of its ensemble ``members`` (default :func:`ensemble_members`); the
    embedding is ``version``'s. Safe to run twice; faces labeled since keep a row (for the
    "possible mistakes" mode) but never show as open suggestions; faces excluded or trashed
    meanwhile are skipped. Returns the number of faces predicted."""
    import numpy as np

    from classifier.dataset import load_pixels
    from classifier.model import load_classifier

    classifier = classifier or load_classifier(version)
    if classifier is None:
        return 0
    members = ensemble_members(version) if members is None else members
    batch_size = batch_size or settings.IDOLSITE_SUGGEST_BATCH
    threshold = settings.IDOLSITE_UNKNOWN_THRESHOLD
    faces = Face.objects.visible()
    if face_ids is not None:
        faces = faces.filter(pk__in=list(face_ids))
    ids = list(faces.order_by("id").values_list("id", flat=True))
    class_ids = classifier.class_idol_ids
    done = 0
    for start in range(0, len(ids), batch_size):
        chunk = list(Face.objects.visible().filter(pk__in=ids[start : start + batch_size]).values_list("id", "crop"))
        if not chunk:
            continue
        live = set(Idol.objects.filter(pk__in=[i for i in class_ids if i is not None]).values_list("id", flat=True))
        pixels = load_pixels([crop for _, crop in chunk], classifier.input_size)
        probabilities, embeddings = classifier.predict_with_embeddings(pixels)
        if members:
            probabilities = (np.asarray(probabilities) + sum(_aligned(m, pixels, class_ids) for _, m in members)) / (
                1 + len(members)
            )
        rejected = _rejected_of(face_id for face_id, _ in chunk)
        rows = []
        for (face_id, _), row, embedding in zip(chunk, probabilities, embeddings, strict=True):
            order = np.argsort(-row)
            unknown = class_ids[order[0]] is None or float(row[order[0]]) < threshold
            candidates = [
                {"idol": class_ids[i], "p": round(float(row[i]), 4)}
                for i in order
                if class_ids[i] is not None and class_ids[i] in live
            ]
            idol_id, probability, margin = rank(candidates, rejected[face_id])
            rows.append(
                Suggestion(
                    face_id=face_id,
                    model_version=version,
                    idol_id=idol_id,
                    probability=min(max(probability, 0.0), 1.0),
                    margin=margin,
                    unknown=unknown,
                    # Room to re-rank after rejections: twice the top-5.
                    top=candidates[: 2 * TOP],
                    embedding=np.asarray(embedding, dtype=np.float16).tobytes(),
                )
            )
        _store(version, rows)
        done += len(rows)
    return done


@transaction.atomic
def _store(version: ModelVersion, rows: list[Suggestion]) -> None:
    face_ids = [row.face_id for row in rows]
    # Open rows of other versions are replaced; reviewed rows stay (counters, calibration).
    Suggestion.objects.filter(face_id__in=face_ids, status=Suggestion.Status.PENDING).exclude(
        model_version=version
    ).delete()
    reviewed = set(
        Suggestion.objects.filter(face_id__in=face_ids, model_version=version)
        .exclude(status=Suggestion.Status.PENDING)
        .values_list("face_id", flat=True)
    )
    Suggestion.objects.filter(face_id__in=face_ids, model_version=version, status=Suggestion.Status.PENDING).delete()
    Suggestion.objects.bulk_create([row for row in rows if row.face_id not in reviewed])


def enqueue_suggest(version_id: int, face_ids: list[int] | None = None) -> None:
    from django_q.tasks import async_task

    args: list[Any] = [version_id] if face_ids is None else [version_id, face_ids]
    async_task("classifier.tasks.suggest", *args, task_name=f"suggest-{version_id}")


def on_model_activated(version: ModelVersion) -> None:
    """Called inside the activation's transaction: the new model's suggestions replace the old
    ones once it commits."""
    version_id = version.pk
    transaction.on_commit(lambda: enqueue_suggest(version_id))


def on_faces_detected(sender: Any, *, faces: list[Face], **kwargs: Any) -> None:
    """faces' ``faces_detected`` receiver: new faces get their suggestions from the active model."""
    active = ModelVersion.objects.active()
    ids = [face.pk for face in faces]
    if active is None or not ids:
        return
    version_id = active.pk
    transaction.on_commit(lambda: enqueue_suggest(version_id, ids))


# --- reviewing ------------------------------------------------------------------------------


def _faces(faces: Iterable[Face | int]) -> list[Face]:
    ids = list(dict.fromkeys(f if isinstance(f, int) else f.pk for f in faces))
    if not ids:
        raise DomainError("no faces given", code="invalid", field="faces")
    found = {f.pk: f for f in Face.objects.select_related("photo").filter(pk__in=ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"faces not found: {missing}", field="faces")
    return [found[i] for i in ids]


def _open_rows(face_ids: list[int]) -> dict[int, Suggestion]:
    """The newest open suggestion of each face (the active model's when it has one)."""
    rows: dict[int, Suggestion] = {}
    for row in Suggestion.objects.filter(face_id__in=face_ids, status=Suggestion.Status.PENDING).order_by(
        "face_id", "-model_version__is_active", "-model_version_id"
    ):
        rows.setdefault(row.face_id, row)
    return rows


@atomic_retrying
def suggestions_accept(
    *,
    faces: Iterable[Face | int],
    idol: Idol | None = None,
    user: User = None,
    replace: bool = False,
    batch: uuid.UUID | None = None,
) -> uuid.UUID:
    """Accept suggestions: each face is labeled with ``idol``, or, without one, with its own
    suggested idol (a whole page at once). One batch, undone together. ``replace`` (the
    "possible mistakes" mode) removes the face's other labels in the same batch."""
    faces = _faces(faces)
    rows = _open_rows([f.pk for f in faces])
    by_idol: dict[int, list[Face]] = defaultdict(list)
    for face in faces:
        if idol is not None:
            by_idol[idol.pk].append(face)
        elif face.pk in rows and rows[face.pk].idol_id is not None:
            by_idol[rows[face.pk].idol_id].append(face)
        else:
            raise DomainError(f"face {face.pk} has no suggestion to accept", code="no_suggestion", field="faces")
    idols = {i.pk: i for i in Idol.all_objects.filter(pk__in=list(by_idol))}
    if len(idols) != len(by_idol):
        raise NotFound("no such idol", field="idol")
    for found in idols.values():
        if found.is_deleted:
            raise DomainError(f"{found.name} has left ({found.get_deletion_reason_display()})", code="deleted_idol")
    from labeling.services import face_unlabel, faces_label, lock_faces

    lock_faces(f.pk for f in faces)  # all at once, in id order, before the labels are touched
    batch = batch or uuid.uuid4()
    if replace:
        for label in FaceLabel.objects.select_related("idol", "face").filter(face__in=faces):
            if label.idol_id not in by_idol or label.face not in by_idol[label.idol_id]:
                face_unlabel(face=label.face, idol=label.idol, user=user, how=How.SUGGESTION, batch=batch)
    now = timezone.now()
    for idol_id, group in by_idol.items():
        faces_label(faces=group, idol=idols[idol_id], user=user, how=How.SUGGESTION, batch=batch)
        accepted = [rows[f.pk].pk for f in group if f.pk in rows and rows[f.pk].idol_id == idol_id]
        Suggestion.objects.filter(pk__in=accepted).update(
            status=Suggestion.Status.ACCEPTED, reviewed_at=now, reviewed_by=_user(user)
        )
    retrain_after_labels()
    return batch


@transaction.atomic
def suggestions_reject(*, faces: Iterable[Face | int], idol: Idol | None = None, user: User = None) -> int:
    """ "Not this idol" for each face (``idol``, or each face's suggested idol): remembered
    forever, never suggested again for that face; the face's suggestions move on to their next
    idol. Rejecting twice changes nothing. Returns the number of new rejections."""
    faces = _faces(faces)
    rows = _open_rows([f.pk for f in faces])
    pairs: list[tuple[Face, int]] = []
    for face in faces:
        idol_id = idol.pk if idol is not None else (rows[face.pk].idol_id if face.pk in rows else None)
        if idol_id is None:
            raise DomainError(f"face {face.pk} has no suggestion to reject", code="no_suggestion", field="faces")
        pairs.append((face, idol_id))
    if idol is not None and not Idol.all_objects.filter(pk=idol.pk).exists():
        raise NotFound("no such idol", field="idol")
    existing = set(SuggestionRejection.objects.filter(face__in=faces).values_list("face_id", "idol_id"))
    new = []
    for face, idol_id in pairs:
        if (face.pk, idol_id) in existing:
            continue
        row = rows.get(face.pk)
        seen = row if row is not None and row.idol_id == idol_id else None
        new.append(
            SuggestionRejection(
                face=face,
                idol_id=idol_id,
                user=_user(user),
                model_version_id=seen.model_version_id if seen else None,
                probability=seen.probability if seen else None,
            )
        )
    SuggestionRejection.objects.bulk_create(new)
    rerank(face_ids=[f.pk for f in faces])
    return len(new)


@transaction.atomic
def suggestions_unreject(*, faces: Iterable[Face | int], idol: Idol, user: User = None) -> int:
    """Take back a rejection (the review page's undo of ``n``)."""
    faces = _faces(faces)
    count, _ = SuggestionRejection.objects.filter(face__in=faces, idol=idol).delete()
    rerank(face_ids=[f.pk for f in faces])
    return count


def rerank(*, face_ids: list[int]) -> None:
    """Recompute the suggested idol of the faces' open suggestions from their top lists."""
    rejected = _rejected_of(face_ids)
    for row in Suggestion.objects.filter(face_id__in=face_ids, status=Suggestion.Status.PENDING):
        idol_id, probability, margin = rank(row.top, rejected[row.face_id])
        if (idol_id, probability, margin) != (row.idol_id, row.probability, row.margin):
            Suggestion.objects.filter(pk=row.pk).update(idol_id=idol_id, probability=probability, margin=margin)


def changes_since(version: ModelVersion) -> int:
    """Label changes since ``version`` was made, and rejections when they train as negatives."""
    changes = LabelEvent.objects.filter(created_at__gt=version.created_at).count()
    if settings.IDOLSITE_TRAINING_NEGATIVES:
        changes += SuggestionRejection.objects.filter(created_at__gt=version.created_at).count()
    return changes


def retrain_after_labels() -> TrainingRun | None:
    """Enough label changes since the active model (IDOLSITE_RETRAIN_AFTER_LABELS) queue a
    training; the next model's suggestions replace these once it is active."""
    from classifier.services import retrain_if_needed

    if ModelVersion.objects.active() is None:  # no model, no review: the schedule trains the first
        return None
    return retrain_if_needed(min_changes=settings.IDOLSITE_RETRAIN_AFTER_LABELS, source="review")


# --- reading --------------------------------------------------------------------------------


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
        rows = rows.filter(
            status=Suggestion.Status.PENDING,
            idol__isnull=False,
            face__excluded=False,
            face__photo__trashed_at__isnull=True,
            probability__gte=settings.IDOLSITE_MISTAKE_PROBABILITY,
        ).filter(Exists(labeled), ~Exists(same))
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


def idol_counts(version: ModelVersion | None = None) -> list[tuple[int, str, int]]:
    """(idol id, name, open suggestions) of every idol with some, most first."""
    from django.db.models import Count

    version = version or ModelVersion.objects.active()
    if version is None:
        return []
    rows = (
        Suggestion.objects.filter(model_version=version)
        .pending()
        .values("idol_id", "idol__name")
        .annotate(n=Count("id"))
        .order_by("-n", "idol__name")
    )
    return [(r["idol_id"], r["idol__name"], r["n"]) for r in rows]


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
