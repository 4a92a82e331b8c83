"""Similar faces: nearest neighbours among the current embedder's vectors, by Euclidean distance
(the metric dlib's vectors are trained for; they are not unit length, so not cosine).

Each process holds the vectors of every face in memory (``EmbeddingIndex``): loaded once with
``faces.selectors.embedding_matrix``, then topped up with the rows added since the last one read,
and loaded again when the embedder or its model file changes. A search is a few dot products
over the matrix in chunks (``|a|^2 + |b|^2 - 2ab``) and ``argpartition``: 200,000 faces of 128
values are 100 MB, and one query reads them once (``bench/similar.py``).

Which faces may be answered (not excluded, photo not trashed; an app built on faces narrows it
further, e.g. to faces not labeled her) is asked of the database for the few nearest candidates
only, so exclusions and trash need no bookkeeping here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.utils.translation import gettext

from core.errors import Conflict
from faces.embedders import embedder_class
from faces.models import Face, FaceEmbedding
from faces.selectors import current_model, embedding_matrix

if TYPE_CHECKING:
    from django.db.models import QuerySet

# Rows of the matrix per dot product: bounds the temporary arrays (rows x queries floats).
CHUNK_ROWS = 32_768
# An idol with more labeled faces is searched from this many of them, spread over her faces in
# id order (her looks over the years): the cost grows with the number of query vectors.
MAX_QUERY_VECTORS = 64
# Candidates fetched beyond the ones asked for, so that a few ineligible faces (excluded, on a
# trashed photo) rarely need a second round.
CANDIDATE_SLACK = 16


class NoEmbedding(Conflict):
    """The face (or every labeled face of an idol) has no vector of the current model yet."""

    code = "no_embeddings"


@dataclass(frozen=True)
class Neighbour:
    face_id: int
    distance: float


@dataclass(frozen=True)
class Snapshot:
    """The index at one moment: face ids (ascending), their vectors and squared norms."""

    ids: np.ndarray
    vectors: np.ndarray
    norms: np.ndarray

    def positions(self, face_ids: Iterable[int]) -> np.ndarray:
        """Rows of the faces that have a vector, in the order given."""
        wanted = np.asarray(list(face_ids), dtype=np.int64)
        if not len(wanted) or not len(self.ids):
            return np.zeros(0, dtype=np.int64)
        at = np.searchsorted(self.ids, wanted).clip(0, len(self.ids) - 1)
        return at[self.ids[at] == wanted]


class EmbeddingIndex:
    """The current model's vectors, held in memory for searching; one per process.

    Rows live in buffers with spare capacity, so the usual top-up (faces newer than every face
    held) appends without copying the matrix; a snapshot taken before stays valid."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.model: tuple[str, str] | None = None
        self.last_row = 0  # the highest FaceEmbedding id read
        self.loads = 0  # full loads, for tests and logs
        self._n = 0
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._norms = np.zeros(0, dtype=np.float32)

    def __len__(self) -> int:
        return self._n

    def snapshot(self) -> Snapshot:
        n = self._n
        return Snapshot(ids=self._ids[:n], vectors=self._vectors[:n], norms=self._norms[:n])

    def refresh(self) -> Snapshot:
        """Bring the index up to date (one query on the primary key when nothing changed) and
        answer it. Only the primary key is searched, so the database reads the new rows alone."""
        with self._lock:
            model = current_model()
            newest = FaceEmbedding.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            # A lower newest row than read before: rows were deleted wholesale (a database
            # restored, a test rolled back): read everything again.
            if model != self.model or newest < self.last_row:
                self._load(model, newest)
            elif newest > self.last_row:
                fresh = FaceEmbedding.objects.filter(pk__gt=self.last_row, pk__lte=newest).values_list(
                    "face_id", "embedder", "model_hash", "error"
                )
                face_ids = [
                    face for face, name, model_hash, error in fresh if (name, model_hash) == model and not error
                ]
                if face_ids:
                    self._add(*embedding_matrix(Face.objects.filter(pk__in=face_ids)))
                self.last_row = newest
            return self.snapshot()

    def _load(self, model: tuple[str, str], newest: int) -> None:
        # Rows added while loading are read again by the next top-up: adding replaces by face.
        rows = FaceEmbedding.objects.of(embedder=model[0], model_hash=model[1]).filter(pk__lte=newest)
        if newest:
            ids, vectors = embedding_matrix(Face.objects.filter(pk__in=rows.values("face_id")))
        else:  # nothing embedded yet: no query
            ids, vectors = np.zeros(0, dtype=np.int64), np.zeros((0, embedder_class(model[0]).dimension), np.float32)
        self.model, self.last_row, self._n = model, newest, 0
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, vectors.shape[1]), dtype=np.float32)
        self._norms = np.zeros(0, dtype=np.float32)
        self._add(ids, vectors)
        self.loads += 1

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids):
            return
        n = self._n
        if n == 0 or (ids[0] > self._ids[n - 1] and np.all(np.diff(ids) > 0)):
            if n + len(ids) > len(self._ids):
                self._grow(n + len(ids))
            self._ids[n : n + len(ids)] = ids
            self._vectors[n : n + len(ids)] = vectors
            self._norms[n : n + len(ids)] = np.einsum("ij,ij->i", vectors, vectors)
            self._n = n + len(ids)
            return
        # Vectors of faces older than the newest held (embedded late, or computed again):
        # merge, the new vector of a face replacing its old one.
        keep = ~np.isin(self._ids[:n], ids)
        all_ids = np.concatenate([self._ids[:n][keep], ids])
        all_vectors = np.concatenate([self._vectors[:n][keep], vectors])
        order = np.argsort(all_ids, kind="stable")
        self._n = 0
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, vectors.shape[1]), dtype=np.float32)
        self._add(all_ids[order], all_vectors[order])

    def _grow(self, needed: int) -> None:
        capacity = needed + max(1024, needed // 8)
        n = self._n
        ids = np.zeros(capacity, dtype=np.int64)
        vectors = np.zeros((capacity, self._vectors.shape[1]), dtype=np.float32)
        norms = np.zeros(capacity, dtype=np.float32)
        ids[:n], vectors[:n], norms[:n] = self._ids[:n], self._vectors[:n], self._norms[:n]
        self._ids, self._vectors, self._norms = ids, vectors, norms


_index = EmbeddingIndex()


def get_index() -> EmbeddingIndex:
    return _index


def reset_index() -> None:
    """Forget the process's vectors (tests: each test's database starts empty)."""
    global _index
    _index = EmbeddingIndex()


def min_distances(snapshot: Snapshot, queries: np.ndarray, *, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """For every face of the snapshot, the Euclidean distance to its nearest query vector."""
    queries = np.asarray(queries, dtype=np.float32).reshape(-1, snapshot.vectors.shape[1])
    query_norms = np.einsum("ij,ij->i", queries, queries)
    scaled = (-2.0 * queries).T.copy()
    out = np.empty(len(snapshot.ids), dtype=np.float32)
    for start in range(0, len(out), chunk_rows):
        end = min(start + chunk_rows, len(out))
        # |a|^2 + |b|^2 - 2ab: a face's own |a|^2 is the same for every query, so it is added
        # after the minimum, and -2 is folded into the queries: one pass over the big product.
        partial = snapshot.vectors[start:end] @ scaled
        partial += query_norms[None, :]
        out[start:end] = partial.min(axis=1) if partial.shape[1] > 1 else partial[:, 0]
        out[start:end] += snapshot.norms[start:end]
    # Rounding may leave a tiny negative square for a face and itself.
    np.maximum(out, 0.0, out=out)
    return np.sqrt(out, out=out)


def nearest(
    snapshot: Snapshot,
    queries: np.ndarray,
    *,
    k: int,
    max_distance: float | None = None,
    skip_ids: Iterable[int] = (),
    eligible: QuerySet[Face] | None = None,
) -> list[Neighbour]:
    """The ``k`` faces nearest to any of ``queries`` (by the distance to the nearest query),
    nearest first, ties by face id; none farther than ``max_distance``, none of ``skip_ids``,
    only faces of ``eligible`` (default: visible faces, not excluded, photo not trashed)."""
    if not len(snapshot.ids) or k < 1:
        return []
    distances = min_distances(snapshot, queries)
    skip = snapshot.positions(skip_ids)
    distances[skip] = np.inf
    # Left-out faces are infinitely far, so even without a limit they are never answered.
    limit = float(np.finfo(np.float32).max) if max_distance is None else max_distance
    within = int(np.count_nonzero(distances <= limit))
    eligible = Face.objects.visible() if eligible is None else eligible
    want = min(within, k + CANDIDATE_SLACK)
    while want:
        top = np.argpartition(distances, want - 1)[:want] if want < len(distances) else np.arange(len(distances))
        top = top[np.lexsort((snapshot.ids[top], distances[top]))]
        top = top[distances[top] <= limit]
        allowed = set(eligible.filter(pk__in=snapshot.ids[top].tolist()).values_list("pk", flat=True))
        found = [Neighbour(int(snapshot.ids[i]), float(distances[i])) for i in top if int(snapshot.ids[i]) in allowed]
        if len(found) >= k or want >= within:
            return found[:k]
        want = min(within, want * 4)
    return []


def face_vector(snapshot: Snapshot, face: Face) -> np.ndarray:
    at = snapshot.positions([face.pk])
    if not len(at):
        raise NoEmbedding(
            gettext("face %(face)s has no embedding of the current model yet (%(model)s)")
            % {"face": face.pk, "model": "/".join(get_index().model or current_model())}
        )
    return snapshot.vectors[at]


def similar_faces(
    *, face: Face, k: int, max_distance: float | None = None, eligible: QuerySet[Face] | None = None
) -> list[Neighbour]:
    """The ``k`` faces nearest to ``face`` (itself left out), nearest first. Raises NoEmbedding
    (409) when the face has no vector of the current model."""
    snapshot = get_index().refresh()
    return nearest(
        snapshot, face_vector(snapshot, face), k=k, max_distance=max_distance, skip_ids=[face.pk], eligible=eligible
    )


def nearest_to_faces(
    *, face_ids: list[int], k: int, max_distance: float | None = None, eligible: QuerySet[Face] | None = None
) -> list[Neighbour]:
    """The ``k`` faces nearest to any face of ``face_ids`` (ranked by the distance to the nearest
    of them; those faces left out), no farther than ``max_distance`` (default
    IDOLSITE_SIMILAR_MAX_DISTANCE). At most MAX_QUERY_VECTORS of the faces are asked, spread
    evenly over them in id order. Raises NoEmbedding when none of them has a vector."""
    snapshot = get_index().refresh()
    rows = snapshot.positions(sorted(set(face_ids)))
    if not len(rows):
        raise NoEmbedding(gettext("none of these faces has an embedding of the current model yet"))
    if len(rows) > MAX_QUERY_VECTORS:
        rows = rows[np.linspace(0, len(rows) - 1, MAX_QUERY_VECTORS).round().astype(np.int64)]
    if max_distance is None:
        max_distance = settings.IDOLSITE_SIMILAR_MAX_DISTANCE
    return nearest(
        snapshot, snapshot.vectors[rows], k=k, max_distance=max_distance, skip_ids=face_ids, eligible=eligible
    )
