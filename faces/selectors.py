"""Reads that several apps share: face embeddings as one array."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faces.models import Face, FaceEmbedding

if TYPE_CHECKING:
    import numpy as np
    from django.db.models import QuerySet

# Rows read at once: bounded memory for the ids and bytes, few round trips.
EMBEDDING_CHUNK = 2000


def current_model(embedder: str | None = None) -> tuple[str, str]:
    """(embedder name, model hash) of the configured model, without loading its library."""
    from faces.embedders import embedder_class

    cls = embedder_class(embedder)
    return cls.name, cls.model_hash()


def embedding_matrix(
    faces: QuerySet[Face],
    *,
    embedder: str | None = None,
    model_hash: str | None = None,
    chunk_size: int = EMBEDDING_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """The vectors of the current model (or of ``model_hash``) for ``faces``: (face ids, float32
    array n x dimension),
    in face id order. Faces without a vector (not computed yet, or failed) are left out, so
    callers pair rows with the returned ids. Reads in chunks of ``chunk_size`` faces (keyset on
    the face id), so the queryset may be large."""
    import numpy as np

    if model_hash is None:
        name, model_hash = current_model(embedder)
    else:  # the vectors of another model file than the configured one (kept by their hash)
        from faces.embedders import embedder_class

        name = embedder_class(embedder).name
    rows = FaceEmbedding.objects.of(embedder=name, model_hash=model_hash).computed()
    face_ids = faces.order_by().values("pk")
    ids: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    dimension = 0
    last = 0
    while True:
        chunk = list(
            rows.filter(face_id__in=face_ids, face_id__gt=last)
            .order_by("face_id")
            .values_list("face_id", "dimension", "vector")[:chunk_size]
        )
        if not chunk:
            break
        dimension = chunk[0][1]
        ids.append(np.fromiter((row[0] for row in chunk), dtype=np.int64, count=len(chunk)))
        data = b"".join(bytes(row[2]) for row in chunk)
        blocks.append(np.frombuffer(data, dtype="<f4").reshape(len(chunk), dimension).astype(np.float32))
        last = chunk[-1][0]
        if len(chunk) < chunk_size:
            break
    if not blocks:
        from faces.embedders import embedder_class

        return np.zeros(0, dtype=np.int64), np.zeros((0, embedder_class(embedder).dimension), dtype=np.float32)
    return np.concatenate(ids), np.concatenate(blocks)
