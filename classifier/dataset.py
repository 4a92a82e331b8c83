"""What the classifier learns from, read from the database: the labeled set and the crops' pixels.

- A face is a training example when it is visible (not excluded, photo not trashed) and carries
  exactly one label, of a recognizable idol (active, graduated or retired: her old photos keep
  coming) who has at least ``IDOLSITE_MIN_FACES_PER_CLASS`` such faces. Idols merged or deleted
  for another reason stay out, and so do faces with several labels (two people in one crop).
- Faces excluded as "not a target" (someone else) form an ``other`` class when there are at
  least as many as the minimum.
- The validation side of a face depends only on its id (``classifier.ml.dataset``), so a face
  never moves between runs however many faces are added; every idol gets the same fraction.
- Negatives: a face with no label, visible, on the training side, for which people rejected
  suggestions of idols that are classes ("not her"), trains as "none of these" (the
  complementary-label loss of ``classifier.ml.layers``) unless ``IDOLSITE_TRAINING_NEGATIVES``
  is off. Validation keeps labeled faces only, so its accuracy means the same with or without.
- The fingerprint of the set decides whether anything changed since the active model.

No TensorFlow here: this module is imported by the web process.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.files.storage import default_storage

from classifier.ml.dataset import OTHER, OTHER_NAME, LabeledSet, Negative, crop_pixels, validation_side
from faces.models import Face
from labeling.models import FaceLabel, Idol


def labeled_set(*, min_faces: int | None = None) -> LabeledSet:
    """Read the training set from the database (two queries)."""
    min_faces = settings.IDOLSITE_MIN_FACES_PER_CLASS if min_faces is None else min_faces
    rows = FaceLabel.objects.filter(face__excluded=False, face__photo__trashed_at__isnull=True).values_list(
        "face_id", "idol_id", "idol__deleted_at", "idol__deletion_reason", "face__crop"
    )
    labels_of: dict[int, list[int]] = defaultdict(list)
    crop_of: dict[int, str] = {}
    deleted: set[int] = set()
    for face_id, idol_id, deleted_at, reason, crop in rows:
        labels_of[face_id].append(idol_id)
        crop_of[face_id] = crop
        # A graduation leaves the class set (and the fingerprint) as it was: no needless retraining.
        if deleted_at is not None and reason not in Idol.RECOGNIZABLE_REASONS:
            deleted.add(idol_id)
    left_out: Counter[str] = Counter()
    by_idol: dict[int, list[int]] = defaultdict(list)
    for face_id, idol_ids in labels_of.items():
        if len(idol_ids) > 1:
            left_out["several_labels"] += 1
        elif idol_ids[0] in deleted:
            left_out["deleted_idol"] += 1
        else:
            by_idol[idol_ids[0]].append(face_id)
    kept = sorted(idol_id for idol_id, faces in by_idol.items() if len(faces) >= min_faces)
    left_out["small_class"] = sum(len(faces) for idol_id, faces in by_idol.items() if len(faces) < min_faces)

    others = list(
        Face.objects.excluded()
        .filter(exclusion_reason=Face.ExclusionReason.NOT_A_TARGET, photo__trashed_at__isnull=True)
        .order_by("id")
        .values_list("id", "crop")
    )
    use_other = len(others) >= min_faces
    if not use_other:
        left_out["other_too_few"] = len(others)

    names = dict(Idol.all_objects.filter(pk__in=kept).values_list("id", "name"))
    data = LabeledSet(
        class_idol_ids=[*kept, *([OTHER] if use_other else [])],
        class_names=[names[i] for i in kept] + ([OTHER_NAME] if use_other else []),
        left_out={k: v for k, v in left_out.items() if v},
    )
    for index, idol_id in enumerate(kept):
        for face_id in sorted(by_idol[idol_id]):
            data.face_ids.append(face_id)
            data.labels.append(index)
            data.crops.append(crop_of[face_id])
    if use_other:
        for face_id, crop in others:
            data.face_ids.append(face_id)
            data.labels.append(len(kept))
            data.crops.append(crop)
    if settings.IDOLSITE_TRAINING_NEGATIVES:
        data.negatives = _negatives(data)
    return data


def _negatives(data: LabeledSet) -> list[Negative]:
    """The faces people rejected suggestions for and never labeled (one query), training side."""
    from django.db.models import Exists, OuterRef

    from classifier.models import SuggestionRejection

    index = {idol_id: i for i, idol_id in enumerate(data.class_idol_ids) if idol_id is not OTHER}
    rows = (
        SuggestionRejection.objects.filter(
            idol_id__in=list(index), face__excluded=False, face__photo__trashed_at__isnull=True
        )
        .filter(~Exists(FaceLabel.objects.filter(face=OuterRef("face"))))
        .values_list("face_id", "face__crop", "idol_id")
    )
    classes: dict[int, set[int]] = defaultdict(set)
    crops: dict[int, str] = {}
    for face_id, crop, idol_id in rows:
        if not validation_side(face_id):
            classes[face_id].add(index[idol_id])
            crops[face_id] = crop
    # A face ruled out of every class is someone else: no class is left for the softmax to give.
    return [
        Negative(face_id, crops[face_id], tuple(sorted(c)))
        for face_id, c in sorted(classes.items())
        if len(c) < data.n_classes
    ]


# --- pixels ---------------------------------------------------------------------------------

_pixel_cache: dict[tuple[str, int], object] = {}
_PIXEL_CACHE_LIMIT = 50_000


def load_pixels(crops: list[str], size: int, *, workers: int = 4):  # -> np.ndarray (n, size, size, 3) uint8
    """Decode crops once into one array; decoded crops are kept in memory for the next run."""
    import numpy as np
    from PIL import Image

    def one(name: str):
        key = (name, size)
        cached = _pixel_cache.get(key)
        if cached is None:
            with default_storage.open(name, "rb") as handle:
                cached = crop_pixels(Image.open(handle), size)
            if len(_pixel_cache) < _PIXEL_CACHE_LIMIT:
                _pixel_cache[key] = cached
        return cached

    if not crops:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return np.stack(list(pool.map(one, crops)))


# --- embeddings -----------------------------------------------------------------------------

# Up to this many faces are read by id; more, by reading every vector of the model once.
_VECTORS_BY_ID = 900


def load_vectors(
    face_ids: list[int], *, embedder: str | None = None, model_hash: str | None = None
):  # -> (np.ndarray bool, np.ndarray)
    """The configured embedder's vectors of ``face_ids`` (or those of the model file
    ``model_hash``), in that order: (has a vector (n,), float32 (n, dimension), zeros where there
    is none: not computed yet, or failed)."""
    import numpy as np

    from faces.selectors import embedding_matrix

    faces = Face.objects.filter(pk__in=face_ids) if len(face_ids) <= _VECTORS_BY_ID else Face.objects.all()
    ids, matrix = embedding_matrix(faces, embedder=embedder, model_hash=model_hash)
    wanted = np.asarray(face_ids, dtype=np.int64)
    at = np.searchsorted(ids, wanted)
    at = np.minimum(at, max(len(ids) - 1, 0))
    has = (ids[at] == wanted) if len(ids) else np.zeros(len(wanted), dtype=bool)
    vectors = np.zeros((len(wanted), matrix.shape[1]), dtype=np.float32)
    vectors[has] = matrix[at[has]]
    return has, vectors


def embedding_set(*, min_faces: int | None = None):  # -> (LabeledSet, np.ndarray, negatives or None)
    """The embedding recognizer's training set: the labeled set (idols with at least
    ``IDOLSITE_EMBEDDING_MIN_FACES`` faces) less the faces that have no vector yet, their
    vectors in the same order, and the negatives' (vectors, class rows) or None."""
    import numpy as np

    min_faces = settings.IDOLSITE_EMBEDDING_MIN_FACES if min_faces is None else min_faces
    data = labeled_set(min_faces=min_faces)
    has, vectors = load_vectors(data.face_ids)
    kept_classes = sorted({data.labels[i] for i in np.flatnonzero(has)})
    new_index = {old: new for new, old in enumerate(kept_classes)}
    out = LabeledSet(
        class_idol_ids=[data.class_idol_ids[c] for c in kept_classes],
        class_names=[data.class_names[c] for c in kept_classes],
        left_out=dict(data.left_out),
    )
    if (~has).sum():
        out.left_out["no_embedding"] = int((~has).sum())
    for i in np.flatnonzero(has):
        out.face_ids.append(data.face_ids[i])
        out.labels.append(new_index[data.labels[i]])
        out.crops.append(data.crops[i])
    negatives = None
    if data.negatives:
        neg_has, neg_vectors = load_vectors([n.face_id for n in data.negatives])
        for negative, ok in zip(data.negatives, neg_has, strict=True):
            classes = tuple(new_index[c] for c in negative.classes if c in new_index)
            if ok and classes and len(classes) < out.n_classes:
                out.negatives.append(Negative(negative.face_id, negative.crop, classes))
        if out.negatives:
            kept = {m.face_id for m in out.negatives}
            keep = [i for i, n in enumerate(data.negatives) if n.face_id in kept]
            negatives = (neg_vectors[keep], out.negative_rows())
    return out, vectors[has], negatives
