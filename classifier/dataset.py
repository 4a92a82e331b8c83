"""What the classifier learns from: the labeled set, its stable split and its fingerprint.

Rules (issue 6):

- A face is a training example when it is visible (not excluded, photo not trashed) and carries
  exactly one label, of an active idol who has at least ``IDOLSITE_MIN_FACES_PER_CLASS`` such
  faces. Faces with several labels (two people in one crop) stay out.
- Faces excluded as "not a target" (someone else) form an ``other`` class when there are at
  least as many as the minimum.
- The validation side of a face depends only on its id (a hash), so a face never moves between
  runs however many faces are added; the same fraction is applied to every idol (stratified).
- Negatives (issue 7): a face with no label, visible, on the training side, for which people
  rejected suggestions of idols that are classes ("not her"), trains as "none of these" (the
  complementary-label loss of ``classifier.training``) unless ``IDOLSITE_TRAINING_NEGATIVES`` is
  off. Validation keeps labeled faces only, so its accuracy means the same with or without.
- The fingerprint of the set decides whether anything changed since the active model.

No TensorFlow here: this module is imported by the web process.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

from django.conf import settings
from django.core.files.storage import default_storage

from faces.models import Face
from labeling.models import FaceLabel, Idol

VALIDATION_FRACTION = 0.2
OTHER = None  # the class key of "someone else" in ``class_idol_ids``
OTHER_NAME = "other (not a target)"


def validation_side(face_id: int, fraction: float = VALIDATION_FRACTION) -> bool:
    """True when the face belongs to the validation split. Depends only on the id."""
    digest = hashlib.blake2b(f"idolsite-split:{face_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < fraction


@dataclass(frozen=True)
class Negative:
    """A face known only as "none of these classes" (indices into ``class_idol_ids``)."""

    face_id: int
    crop: str
    classes: tuple[int, ...]


@dataclass
class LabeledSet:
    """The examples of one training, in a fixed order (class, then face id)."""

    class_idol_ids: list[int | None]
    class_names: list[str]
    face_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # index into class_idol_ids
    crops: list[str] = field(default_factory=list)  # storage names of the crops
    left_out: dict[str, int] = field(default_factory=dict)  # why faces stayed out, for the report
    negatives: list[Negative] = field(default_factory=list)  # training side only

    def __len__(self) -> int:
        return len(self.face_ids)

    @property
    def n_classes(self) -> int:
        return len(self.class_idol_ids)

    @cached_property
    def validation(self) -> list[bool]:
        return [validation_side(face_id) for face_id in self.face_ids]

    def indices(self, *, validation: bool) -> list[int]:
        return [i for i, side in enumerate(self.validation) if side == validation]

    @cached_property
    def fingerprint(self) -> str:
        """Changes when any face enters, leaves or changes class, or a class appears or goes."""
        payload = {
            "classes": self.class_idol_ids,
            "faces": sorted((int(f), int(label)) for f, label in zip(self.face_ids, self.labels, strict=True)),
            "validation_fraction": VALIDATION_FRACTION,
        }
        if self.negatives:  # absent when there are none: older fingerprints stay the same
            payload["negatives"] = sorted([n.face_id, *n.classes] for n in self.negatives)
        return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()

    def negative_rows(self):  # -> np.ndarray (negatives, classes) of 0/1
        import numpy as np

        rows = np.zeros((len(self.negatives), self.n_classes), dtype="float32")
        for i, negative in enumerate(self.negatives):
            rows[i, list(negative.classes)] = 1.0
        return rows

    def class_counts(self) -> dict[int | None, int]:
        counts = Counter(self.labels)
        return {self.class_idol_ids[i]: counts[i] for i in range(self.n_classes)}


def labeled_set(*, min_faces: int | None = None) -> LabeledSet:
    """Read the training set from the database (two queries)."""
    min_faces = settings.IDOLSITE_MIN_FACES_PER_CLASS if min_faces is None else min_faces
    rows = FaceLabel.objects.filter(face__excluded=False, face__photo__trashed_at__isnull=True).values_list(
        "face_id", "idol_id", "idol__deleted_at", "face__crop"
    )
    labels_of: dict[int, list[int]] = defaultdict(list)
    crop_of: dict[int, str] = {}
    deleted: set[int] = set()
    for face_id, idol_id, deleted_at, crop in rows:
        labels_of[face_id].append(idol_id)
        crop_of[face_id] = crop
        if deleted_at is not None:
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


def crop_pixels(image, size: int):  # (PIL.Image, int) -> np.ndarray
    """A crop as a ``size`` x ``size`` x 3 uint8 array (the same resize for training and use)."""
    import numpy as np
    from PIL import Image

    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(image, dtype=np.uint8)


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
