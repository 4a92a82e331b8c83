"""Face embeddings: queueing new faces in batches, and storing a batch's vectors or failures."""

from __future__ import annotations

import io
import logging
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext
from django_q.tasks import async_task

from core.storage import transient_storage_error
from faces.models import Face, FaceEmbedding
from faces.signals import faces_embedded

if TYPE_CHECKING:
    from faces.embedders import Embedder, FaceImage

# Faces a task embeds at once: one network call, and a task short enough to retry.
EMBED_BATCH = 64

log = logging.getLogger(__name__)

_pending = threading.local()


def embedding_requeue_lost(*, now: datetime | None = None) -> int:
    """Queue again the faces older than IDOLSITE_DETECT_CLAIM_TIMEOUT with no row (vector or
    failure) of the current model, when the default queue is empty: their task was lost with a
    killed worker. Embedding is safe to run twice."""
    from faces.backlog import LOST_LIMIT, default_queue_empty
    from faces.embedders import EmbedderUnavailable
    from faces.selectors import current_model

    if not settings.IDOLSITE_AUTO_EMBED:
        return 0
    try:
        name, model_hash = current_model()
    except EmbedderUnavailable:
        return 0
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.IDOLSITE_DETECT_CLAIM_TIMEOUT)
    vectors = FaceEmbedding.objects.of(embedder=name, model_hash=model_hash).filter(face=OuterRef("pk"))
    lost = Face.objects.filter(created_at__lt=cutoff).exclude(Exists(vectors))
    ids = list(lost.order_by("id").values_list("id", flat=True)[:LOST_LIMIT])
    if not ids or not default_queue_empty():
        return 0
    transaction.on_commit(lambda: enqueue_embedding(face_ids=ids))
    log.warning("faces with no vector and no task, queued again: %s", len(ids))
    return len(ids)


def enqueue_embedding(*, face_ids: list[int], embedder: str | None = None) -> None:
    """Queue ``faces.tasks.embed_faces`` on the default cluster, in batches (call it on commit)."""
    for start in range(0, len(face_ids), EMBED_BATCH):
        async_task("faces.tasks.embed_faces", face_ids[start : start + EMBED_BATCH], embedder=embedder)


class _Batch:
    """The new faces of one transaction, queued together when it commits."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.callback = self.flush  # one bound method, found again in the connection's list

    def flush(self) -> None:
        if getattr(_pending, "batch", None) is self:
            _pending.batch = None
        enqueue_embedding(face_ids=self.ids)


def embedding_enqueue_on_commit(*, face_id: int) -> None:
    """Queue a new face's embedding when the transaction that created it commits: the faces of
    one transaction (a photo's detection) go together in one task."""
    if not settings.IDOLSITE_AUTO_EMBED:
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        enqueue_embedding(face_ids=[face_id])
        return
    batch = getattr(_pending, "batch", None)
    # A rollback drops the batch's callback: the next face starts a new batch.
    if batch is None or not any(entry[1] is batch.callback for entry in connection.run_on_commit):
        batch = _pending.batch = _Batch()
        transaction.on_commit(batch.callback)
    batch.ids.append(face_id)


def load_face_image(face: Face) -> FaceImage:
    """The face's stored crop as RGB pixels, with the face's box inside it."""
    import numpy as np
    from PIL import Image

    from faces.embedders import FaceImage, face_box_in_crop

    with face.crop.open("rb") as handle:
        data = handle.read()
    with Image.open(io.BytesIO(data)) as image:
        rgb = np.asarray(image.convert("RGB"))
    height, width = rgb.shape[:2]
    side = min(width, height)
    box = face_box_in_crop(side=side, detector=face.detector, margin=settings.IDOLSITE_CROP_MARGIN)
    return FaceImage(rgb=rgb, box=box)


def faces_to_embed(
    *, face_ids: Iterable[int], embedder: str, model_hash: str, retry_failed: bool = False, recompute: bool = False
) -> list[int]:
    """Of ``face_ids``, those still existing that need a vector from this model: without a row,
    with a failed one when ``retry_failed``, every one when ``recompute``."""
    ids = set(Face.objects.filter(pk__in=list(face_ids)).values_list("pk", flat=True))
    if recompute:
        return sorted(ids)
    done = FaceEmbedding.objects.of(embedder=embedder, model_hash=model_hash).filter(face_id__in=ids)
    if retry_failed:
        done = done.computed()
    return sorted(ids - set(done.values_list("face_id", flat=True)))


def face_embeddings_compute(
    *, face_ids: list[int], embedder: Embedder, retry_failed: bool = False, recompute: bool = False
) -> Counter[str]:
    """Embed the faces among ``face_ids`` that need it and store each vector, or the reason a
    face failed (an unreadable crop, a library error): such a face is not tried again unless
    ``retry_failed`` or ``recompute``. Returns the counts: embedded, failed, skipped.

    Safe to run twice and beside another worker: rows are written with one upsert on (face,
    embedder, model hash). Raises EmbedderUnavailable (nothing stored) when the model cannot run,
    and the storage's error (nothing stored either) when the bucket holding the crops does not answer."""
    import numpy as np

    model_hash = embedder.model_hash()
    todo = faces_to_embed(
        face_ids=face_ids, embedder=embedder.name, model_hash=model_hash, retry_failed=retry_failed, recompute=recompute
    )
    counts: Counter[str] = Counter(skipped=len(set(face_ids)) - len(todo))
    images: dict[int, FaceImage] = {}
    errors: dict[int, str] = {}
    for face in Face.objects.filter(pk__in=todo).order_by("pk"):
        try:
            images[face.pk] = load_face_image(face)
        except Exception as exc:  # a missing or undecodable crop: this face fails, the batch goes on
            if transient_storage_error(exc):  # not the crop's fault: nothing stored, tried again later
                raise
            errors[face.pk] = gettext("the crop cannot be read: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"}
    vectors: dict[int, np.ndarray] = {}
    if images:
        try:
            vectors = dict(zip(images, embedder.embed(list(images.values())), strict=True))
        except Exception:
            # One bad face spoils a batch call: embed one at a time to find it.
            for pk, image in images.items():
                try:
                    vectors[pk] = embedder.embed([image])[0]
                except Exception as exc:
                    log.warning("embedding of face %s failed", pk, exc_info=True)
                    errors[pk] = gettext("the embedder failed: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"}
    stored = _store(embedder=embedder.name, model_hash=model_hash, vectors=vectors, errors=errors)
    if stored:
        faces_embedded.send(sender=FaceEmbedding, face_ids=stored, embedder=embedder.name, model_hash=model_hash)
    counts.update(embedded=len(vectors), failed=len(errors))
    return counts


def _store(*, embedder: str, model_hash: str, vectors: dict, errors: dict[int, str]) -> list[int]:
    """Write the vectors and failures of the faces still there; returns the faces given a vector."""
    import numpy as np

    now = timezone.now()
    with transaction.atomic():
        alive = set(Face.objects.filter(pk__in=[*vectors, *errors]).values_list("pk", flat=True))
        rows = [
            FaceEmbedding(
                face_id=pk,
                embedder=embedder,
                model_hash=model_hash,
                dimension=len(vector),
                vector=np.asarray(vector, dtype="<f4").tobytes(),
                error="",
                created_at=now,
            )
            for pk, vector in vectors.items()
            if pk in alive
        ] + [
            FaceEmbedding(
                face_id=pk,
                embedder=embedder,
                model_hash=model_hash,
                dimension=0,
                vector=b"",
                error=error[:2000],
                created_at=now,
            )
            for pk, error in errors.items()
            if pk in alive
        ]
        # A failed row that now has a vector is written as a new row (a new id), so the readers
        # that take rows newer than the last id they read (faces.similarity) see it.
        FaceEmbedding.objects.of(embedder=embedder, model_hash=model_hash).failed().filter(
            face_id__in=[pk for pk in vectors if pk in alive]
        ).delete()
        FaceEmbedding.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["face", "embedder", "model_hash"],
            update_fields=["dimension", "vector", "error", "created_at"],
        )
    return sorted(pk for pk in vectors if pk in alive)
