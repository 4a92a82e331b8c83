"""The shape of a training set: its examples in a fixed order, its stable split, its fingerprint
and the negatives; and the one resize that turns a crop into the network's pixels.

Reading the set from the database is ``classifier.dataset.labeled_set``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

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


def crop_pixels(image, size: int):  # (PIL.Image, int) -> np.ndarray
    """A crop as a ``size`` x ``size`` x 3 uint8 array (the same resize for training and use)."""
    import numpy as np
    from PIL import Image

    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(image, dtype=np.uint8)
