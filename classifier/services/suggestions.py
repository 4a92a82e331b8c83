"""Suggestions, the write side of active learning: the model suggests, people confirm.

- :func:`suggest_faces` predicts faces with one model version and stores a :class:`Suggestion`
  per (face, version): the top-1 idol after leaving out the idols people rejected for that
  face, its probability and margin, the top list and the embedding. It replaces the open rows
  of other versions for the faces it covers. ``classifier.tasks.suggest`` calls it.
- :func:`suggestions_accept` turns suggestions into labels (``how=suggestion``, one batch,
  undone with ``label_batch_undo``); :func:`suggestions_reject` remembers "not this idol"
  (:class:`SuggestionRejection`, forever) and moves the face's suggestion to its next idol.

Rejections are negatives three ways: a rejected idol is never suggested again for the face, the
face's top list is re-ranked without it, and the next training learns "not her" from the faces
that have no label yet (``classifier.dataset``, ``IDOLSITE_TRAINING_NEGATIVES``); they count as
changes for the retraining they trigger (``classifier.services.retraining``). The reads (pages
of suggestions, counts, the calibration table) are ``classifier.selectors``.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext

from classifier.models import ModelVersion, Recognizer, Suggestion, SuggestionRejection
from classifier.services import retraining, versions
from classifier.services.common import User, acting_user
from core.errors import DomainError, NotFound
from faces.db import atomic_retrying
from faces.models import Face, FaceEmbedding
from labeling.models import FaceLabel, How, Idol

log = logging.getLogger(__name__)

TOP = 5


def rank(top: Sequence[dict[str, Any]], rejected: set[int]) -> tuple[int | None, float, float]:
    """The suggested idol, its probability and margin from a top list, rejected idols left out.
    The probability is the model's given what people said: "not these idols" leaves the others
    their share of what is left, p / (1 - the rejected idols' p): it orders the faces most
    likely right better than the raw p does."""
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
    data disagree on the faces they are wrongly sure of, so the average's most confident
    guesses are right far more often than one model's."""
    size = settings.IDOLSITE_SUGGEST_ENSEMBLE if size is None else size
    if size <= 1:
        return []
    classes = set(version.class_idol_ids)
    members = []
    earlier = ModelVersion.objects.filter(set_aside=False, pk__lt=version.pk).order_by("-id")
    for other in earlier[: 4 * size]:  # a few more, for those of other idols
        if set(other.class_idol_ids) != classes:
            continue
        classifier = versions.load_classifier(other)
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

    classifier = classifier or versions.load_classifier(version)
    if classifier is None:
        return 0
    if getattr(classifier, "kind", "") == Recognizer.EMBEDDING:
        return _suggest_from_embeddings(version, classifier, face_ids, batch_size)
    members = ensemble_members(version) if members is None else members
    threshold = settings.IDOLSITE_UNKNOWN_THRESHOLD
    class_ids = classifier.class_idol_ids
    done = 0
    for batch in _batches(face_ids, batch_size):
        chunk = list(Face.objects.visible().filter(pk__in=batch).values_list("id", "crop"))
        if not chunk:
            continue
        live = set(
            Idol.all_objects.recognizable()
            .filter(pk__in=[i for i in class_ids if i is not None])
            .values_list("id", flat=True)
        )
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
            rows.append(
                _row(
                    version,
                    face_id,
                    candidates,
                    rejected[face_id],
                    unknown=unknown,
                    embedding=np.asarray(embedding, dtype=np.float16).tobytes(),
                )
            )
        _store(version, rows)
        done += len(rows)
    return done


def _batches(face_ids: Iterable[int] | None, batch_size: int | None) -> Iterator[list[int]]:
    """The visible faces (all, or of ``face_ids``) in id order, ``batch_size`` at a time; each
    batch is read again when it comes (a face excluded meanwhile is skipped)."""
    batch_size = batch_size or settings.IDOLSITE_SUGGEST_BATCH
    faces = Face.objects.visible()
    if face_ids is not None:
        faces = faces.filter(pk__in=list(face_ids))
    ids = list(faces.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), batch_size):
        yield ids[start : start + batch_size]


def _suggest_from_embeddings(
    version: ModelVersion, classifier: Any, face_ids: Iterable[int] | None, batch_size: int | None
) -> int:
    """:func:`suggest_faces` for the embedding recognizer: faces without a vector from its
    embedder's model are skipped (they are suggested once their vector is stored). The
    probability is the calibrated one; ``unknown``: far from every labeled face of the idol."""
    import numpy as np

    from classifier.dataset import load_vectors
    from faces.selectors import current_model

    if current_model(classifier.embedder) != (classifier.embedder, classifier.model_hash):
        log.warning("model %s learned from another embedding model than the configured one", version.pk)
        return 0
    class_ids = classifier.class_idol_ids
    done = 0
    for batch in _batches(face_ids, batch_size):
        chunk = list(Face.objects.visible().filter(pk__in=batch).values_list("id", flat=True))
        has, vectors = load_vectors(chunk, embedder=classifier.embedder)
        chunk = [face_id for face_id, ok in zip(chunk, has, strict=True) if ok]
        if not chunk:
            continue
        live = set(
            Idol.all_objects.recognizable()
            .filter(pk__in=[i for i in class_ids if i is not None])
            .values_list("id", flat=True)
        )
        prediction = classifier.predict_vectors(vectors[has])
        rejected = _rejected_of(chunk)
        rows = []
        for n, face_id in enumerate(chunk):
            row = prediction.probabilities[n]
            order = np.argsort(-row)
            candidates = [
                {"idol": class_ids[i], "p": round(float(row[i]), 4), "d": round(float(prediction.nearest[n, i]), 3)}
                for i in order[: 4 * TOP]
                if class_ids[i] is not None and class_ids[i] in live
            ]
            rows.append(_row(version, face_id, candidates, rejected[face_id], unknown=bool(prediction.unknown[n])))
        _store(version, rows)
        done += len(rows)
    return done


def _row(
    version: ModelVersion,
    face_id: int,
    candidates: list[dict[str, Any]],
    rejected: set[int],
    *,
    unknown: bool,
    embedding: bytes | None = None,
) -> Suggestion:
    """A face's suggestion from its ranked candidates, the idols people rejected left out."""
    idol_id, probability, margin = rank(candidates, rejected)
    return Suggestion(
        face_id=face_id,
        model_version=version,
        idol_id=idol_id,
        probability=min(max(probability, 0.0), 1.0),
        margin=margin,
        unknown=unknown,
        top=candidates[: 2 * TOP],  # room to re-rank after rejections: twice the top-5
        embedding=embedding,
    )


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
    # A label written meanwhile by another transaction marks its face's rows when it commits;
    # these are not visible to it yet, so a face labeled in that instant waits for the next
    # suggestions (which that label starts) to appear among the possible mistakes.
    labels = _labels_of(face_ids)
    for row in rows:
        row.labeled_other = _labeled_other(labels, row.face_id, row.idol_id)
    Suggestion.objects.bulk_create([row for row in rows if row.face_id not in reviewed])


def _labels_of(face_ids: Iterable[int]) -> dict[int, set[int]]:
    labels: dict[int, set[int]] = defaultdict(set)
    for face_id, idol_id in FaceLabel.objects.filter(face_id__in=list(face_ids)).values_list("face_id", "idol_id"):
        labels[face_id].add(idol_id)
    return labels


def _labeled_other(labels: Mapping[int, set[int]], face_id: int, idol_id: int | None) -> bool:
    """``Suggestion.labeled_other``: the face has labels, none of them the suggested idol."""
    return bool(labels.get(face_id)) and idol_id not in labels[face_id]


def mark_labeled_faces(sender: Any, *, events: list[Any], **kwargs: Any) -> None:
    """labeling's ``labels_changed`` receiver: the suggestions of the faces whose labels changed
    learn whether they now suggest someone other than the face's labels, in the same transaction."""
    face_ids = {event.face_id for event in events if event.face_id is not None}
    if face_ids:
        labeled = Exists(FaceLabel.objects.filter(face=OuterRef("face")))
        same = Exists(FaceLabel.objects.filter(face=OuterRef("face"), idol=OuterRef("idol")))
        other = ExpressionWrapper(Q(labeled) & ~Q(same), output_field=BooleanField())
        Suggestion.objects.filter(face_id__in=face_ids).update(labeled_other=other)


def on_faces_detected(sender: Any, *, faces: list[Face], **kwargs: Any) -> None:
    """faces' ``faces_detected`` receiver: new faces get their suggestions from the active model."""
    active = ModelVersion.objects.active()
    ids = [face.pk for face in faces]
    if active is None or not ids or active.kind == Recognizer.EMBEDDING:  # those wait for their vectors
        return
    version_id = active.pk
    transaction.on_commit(lambda: versions.enqueue_suggest(version_id, ids))


def _faces(faces: Iterable[Face | int]) -> list[Face]:
    ids = list(dict.fromkeys(f if isinstance(f, int) else f.pk for f in faces))
    if not ids:
        raise DomainError(gettext("no faces given"), code="invalid", field="faces")
    found = {f.pk: f for f in Face.objects.select_related("photo").filter(pk__in=ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(gettext("faces not found: %(ids)s") % {"ids": missing}, field="faces")
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
    choices: Mapping[int, int] | None = None,
) -> uuid.UUID:
    """Accept suggestions: each face is labeled with ``idol``, or with the idol ``choices``
    (face id -> idol id) names for it, or else with its own suggested idol (a whole page at
    once). One batch, undone together. ``replace`` (the "possible mistakes" mode) removes the
    face's other labels in the same batch."""
    faces = _faces(faces)
    rows = _open_rows([f.pk for f in faces])
    by_idol: dict[int, list[Face]] = defaultdict(list)
    for face in faces:
        if idol is not None:
            by_idol[idol.pk].append(face)
        elif choices and face.pk in choices:
            by_idol[choices[face.pk]].append(face)
        elif face.pk in rows and rows[face.pk].idol_id is not None:
            by_idol[rows[face.pk].idol_id].append(face)
        else:
            raise DomainError(
                gettext("face %(face)s has no suggestion to accept") % {"face": face.pk},
                code="no_suggestion",
                field="faces",
            )
    idols = {i.pk: i for i in Idol.all_objects.filter(pk__in=list(by_idol))}
    if len(idols) != len(by_idol):
        raise NotFound(gettext("no such idol"), field="idol")
    for found in idols.values():
        # A graduated idol's old photos keep coming: only merged and mistaken idols are refused.
        if not found.is_recognizable:
            raise DomainError(
                gettext("%(name)s has left (%(reason)s)")
                % {"name": found.name, "reason": found.get_deletion_reason_display()},
                code="deleted_idol",
            )
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
            status=Suggestion.Status.ACCEPTED, reviewed_at=now, reviewed_by=acting_user(user)
        )
    retraining.retrain_after_labels()
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
            raise DomainError(
                gettext("face %(face)s has no suggestion to reject") % {"face": face.pk},
                code="no_suggestion",
                field="faces",
            )
        pairs.append((face, idol_id))
    if idol is not None and not Idol.all_objects.filter(pk=idol.pk).exists():
        raise NotFound(gettext("no such idol"), field="idol")
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
                user=acting_user(user),
                model_version_id=seen.model_version_id if seen else None,
                probability=seen.probability if seen else None,
            )
        )
    SuggestionRejection.objects.bulk_create(new)
    rerank(face_ids=[f.pk for f in faces])
    retraining.on_rejections(len(new))
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
    labels = _labels_of(face_ids)
    for row in Suggestion.objects.filter(face_id__in=face_ids, status=Suggestion.Status.PENDING):
        idol_id, probability, margin = rank(row.top, rejected[row.face_id])
        if (idol_id, probability, margin) != (row.idol_id, row.probability, row.margin):
            Suggestion.objects.filter(pk=row.pk).update(
                idol_id=idol_id,
                probability=probability,
                margin=margin,
                labeled_other=_labeled_other(labels, row.face_id, idol_id),
            )


def suggestions_requeue_lost(*, now: datetime | None = None) -> int:
    """Queue again the suggestions of visible faces with a vector of the active embedding
    recognizer's model but no suggestion of it, made over IDOLSITE_DETECT_CLAIM_TIMEOUT ago, when
    the default queue is empty: their suggest task died with a killed worker (django-q holds the
    tasks it took from the broker in memory). Suggesting is safe to run twice."""
    from faces.backlog import LOST_LIMIT, default_queue_empty

    active = ModelVersion.objects.active()
    if active is None or active.kind != Recognizer.EMBEDDING:
        return 0
    now = now or timezone.now()
    vectors = FaceEmbedding.objects.of(embedder=active.embedder, model_hash=active.model_hash).filter(
        face=OuterRef("pk"), error="", created_at__lt=now - timedelta(seconds=settings.IDOLSITE_DETECT_CLAIM_TIMEOUT)
    )
    suggested = Suggestion.objects.filter(face=OuterRef("pk"), model_version=active)
    lost = Face.objects.visible().filter(Exists(vectors)).exclude(Exists(suggested))
    ids = list(lost.order_by("id").values_list("id", flat=True)[:LOST_LIMIT])
    if not ids or not default_queue_empty():
        return 0
    version_id = active.pk
    transaction.on_commit(lambda: versions.enqueue_suggest(version_id, ids))
    log.warning("faces with a vector and no suggestion, queued again: %s", len(ids))
    return len(ids)


def on_faces_embedded(sender: Any, *, face_ids: list[int], embedder: str, model_hash: str, **kwargs: Any) -> None:
    """faces' ``faces_embedded`` receiver: faces with a new vector get their suggestions from an
    active embedding recognizer of the same model file; labeled ones among them are new training
    data for it."""
    active = ModelVersion.objects.active()
    if (
        active is not None
        and active.kind == Recognizer.EMBEDDING
        and (active.embedder, active.model_hash)
        == (
            embedder,
            model_hash,
        )
    ):
        version_id = active.pk
        ids = list(face_ids)
        transaction.on_commit(lambda: versions.enqueue_suggest(version_id, ids))
    if FaceLabel.objects.filter(face_id__in=face_ids).exists():
        retraining.on_new_training_vectors(len(face_ids))
