"""What every export format shares: the selection of faces, the split, and the writer's base.

A face is exported when it is visible (not excluded, photo not trashed) and labeled with a
recognizable idol (active, graduated or retired: she is still the same person; merged idols and
those deleted for another reason are not). The classification formats (ImageFolder, TFRecord)
need one class a crop, so they leave out faces with several labels (two people in one crop), as
training does; COCO keeps them (one box, one annotation per label).

Memory stays flat with the number of faces: the rows are streamed from the database twice, first
face and idol ids only (to count faces per idol and draw the split), then with the crops' names,
one face at a time. Only ids are held (faces per idol while planning, then the validation
side's), never a crop.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.utils.translation import gettext

from core.errors import DomainError
from labeling.models import FaceLabel, Idol
from labeling.text import name_key

CHUNK_SIZE = 2000
TRAIN, VAL = "train", "val"


class ExportError(DomainError):
    code = "export"


@dataclass
class ExportIdol:
    id: int
    name: str
    index: int  # the class index: idols sorted by name, then id
    count: int


@dataclass
class FaceRow:
    """One face to write, with what every format may need (no pixels: the writer reads the crop)."""

    face_id: int
    crop: str  # storage name of the aligned crop (JPEG)
    box: tuple[int, int, int, int]  # x, y, w, h in photo pixels
    photo_id: int
    photo_sha256: str
    photo_image: str  # storage name of the original photo
    photo_width: int
    photo_height: int
    source_url: str
    idols: list[ExportIdol]  # the exported idols on this face, one for the classification formats
    split: str = TRAIN


@dataclass
class Plan:
    idols: list[ExportIdol]
    too_few: list[tuple[str, int]] = field(default_factory=list)  # idols left out: name, faces
    left_out: Counter[str] = field(default_factory=Counter)  # faces left out, by reason
    val: set[int] = field(default_factory=set)
    total: int = 0
    split: float | None = None

    @property
    def by_id(self) -> dict[int, ExportIdol]:
        return {idol.id: idol for idol in self.idols}


class Writer:
    """One export format. The service calls ``begin``, ``add`` for each face, then ``finish``,
    all inside a temporary folder that becomes the output only once ``finish`` returned."""

    name: ClassVar[str]
    single_label: ClassVar[bool] = True  # faces with several labels left out
    supports_split: ClassVar[bool] = True
    # Order of the rows: by face for the classification formats, by photo for COCO.
    order: ClassVar[tuple[str, ...]] = ("face_id",)

    def __init__(self, root: Path, plan: Plan, **options: Any) -> None:
        self.root = root
        self.plan = plan
        self.options = options

    def begin(self) -> None:
        pass

    def add(self, row: FaceRow) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        pass


def resolve_idols(tokens: list[str] | None) -> list[Idol]:
    """Recognizable idols by id or by name (any spelling ``name_key`` folds together)."""
    idols = Idol.all_objects.recognizable()
    if not tokens:
        return list(idols.order_by("name", "id"))
    found: dict[int, Idol] = {}
    for token in tokens:
        token = token.strip()
        matches = list(idols.filter(pk=int(token))) if token.isdigit() else list(idols.filter(name_key=name_key(token)))
        if not matches:
            raise ExportError(gettext("No idol %(idol)s to export") % {"idol": token}, field="idols")
        if len(matches) > 1:
            raise ExportError(
                gettext("Several idols are named %(idol)s: give their ids (%(ids)s)")
                % {"idol": token, "ids": ", ".join(str(i.pk) for i in matches)},
                field="idols",
            )
        found[matches[0].pk] = matches[0]
    return sorted(found.values(), key=lambda i: (i.name, i.pk))


def _labels() -> QuerySet[FaceLabel]:
    return FaceLabel.objects.filter(face__excluded=False, face__photo__trashed_at__isnull=True)


def split_key(seed: int, face_id: int) -> bytes:
    """The order that draws the split: a hash of seed and face id, so one seed gives one split."""
    return hashlib.sha256(f"{seed}:{face_id}".encode()).digest()


def make_plan(*, idols: list[Idol], min_faces: int, split: float | None, seed: int, single_label: bool) -> Plan:
    """Count faces per idol (one streamed query of ids), leave out idols with fewer than
    ``min_faces``, and draw the validation side of each idol (stratified)."""
    wanted = {idol.pk for idol in idols}
    faces_of: dict[int, list[int]] = defaultdict(list)
    left_out: Counter[str] = Counter()
    rows = _labels().order_by("face_id", "idol_id").values_list("face_id", "idol_id").iterator(chunk_size=CHUNK_SIZE)
    for face_id, group in groupby(rows, key=lambda r: r[0]):
        idol_ids = [idol_id for _, idol_id in group]
        mine = [i for i in idol_ids if i in wanted]
        if not mine:
            continue
        if single_label and len(idol_ids) > 1:
            left_out["several_labels"] += 1
            continue
        for idol_id in mine:
            faces_of[idol_id].append(face_id)
    kept: list[ExportIdol] = []
    too_few: list[tuple[str, int]] = []
    for idol in idols:
        count = len(faces_of.get(idol.pk, ()))
        if count >= max(min_faces, 1):
            kept.append(ExportIdol(id=idol.pk, name=idol.name, index=len(kept), count=count))
        elif count:
            too_few.append((idol.name, count))
            left_out["too_few_faces"] += count
    plan = Plan(idols=kept, too_few=too_few, left_out=left_out, split=split)
    for idol in kept:
        ids = faces_of[idol.id]
        if split is not None:
            n_val = min(int(len(ids) * (1 - split) + 0.5), len(ids) - 1)
            plan.val.update(sorted(ids, key=lambda f: split_key(seed, f))[:n_val])
    plan.total = len({f for idol in kept for f in faces_of[idol.id]})
    return plan


def face_rows(plan: Plan, *, order: tuple[str, ...], single_label: bool) -> Iterator[FaceRow]:
    """The faces of the plan with what the writers need, streamed in ``order``."""
    by_id = plan.by_id
    rows = (
        _labels()
        .order_by(*order, "idol_id")
        .values_list(
            "face_id",
            "idol_id",
            "face__crop",
            "face__x",
            "face__y",
            "face__w",
            "face__h",
            "face__photo_id",
            "face__photo__sha256",
            "face__photo__image",
            "face__photo__width",
            "face__photo__height",
            "face__photo__source_url",
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for face_id, group_rows in groupby(rows, key=lambda r: r[0]):
        group = list(group_rows)
        if single_label and len(group) > 1:
            continue
        idols = [by_id[r[1]] for r in group if r[1] in by_id]
        if not idols:
            continue
        _, _, crop, x, y, w, h, photo_id, sha, image, width, height, url = group[0]
        yield FaceRow(
            face_id=face_id,
            crop=crop,
            box=(x, y, w, h),
            photo_id=photo_id,
            photo_sha256=sha,
            photo_image=image,
            photo_width=width,
            photo_height=height,
            source_url=url,
            idols=idols,
            split=VAL if face_id in plan.val else TRAIN,
        )
