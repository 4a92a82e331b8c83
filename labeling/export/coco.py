"""COCO: the original photos' face boxes, labeled, as one ``annotations.json`` for detection.

``images`` (id = photo id, ``file_name``, width, height, plus ``sha256`` and ``source_url``),
``annotations`` (one a label: ``bbox`` [x, y, w, h] in photo pixels, ``category_id`` = idol id,
``area``, ``iscrowd`` 0, plus ``face_id``) and ``categories`` (the idols). With ``copy_images``
the photos are copied under ``images/`` and ``file_name`` is that path; otherwise it is the
photo's name in the site's media storage. No split: boxes of one photo belong together.

Both arrays are written to part files as the faces stream by and joined at the end.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import TextIO

from labeling.export.base import FaceRow, Writer
from labeling.export.imagefolder import copy_from_storage


class CocoWriter(Writer):
    name = "coco"
    single_label = False
    supports_split = False
    order = ("face__photo_id", "face_id")

    def begin(self) -> None:
        self.copy_images = bool(self.options.get("copy_images"))
        if self.copy_images:
            (self.root / "images").mkdir()
        self._images: TextIO = (self.root / "images.part").open("w", encoding="utf-8")
        self._annotations: TextIO = (self.root / "annotations.part").open("w", encoding="utf-8")
        self._photo: int | None = None
        self._annotation_id = 0

    @staticmethod
    def _append(handle: TextIO, item: dict, first: bool) -> None:
        handle.write(("" if first else ",\n") + json.dumps(item, ensure_ascii=False))

    def add(self, row: FaceRow) -> None:
        if row.photo_id != self._photo:
            file_name = row.photo_image
            if self.copy_images:
                file_name = f"images/{PurePosixPath(row.photo_image).name}"
                with (self.root / file_name).open("wb") as handle:
                    copy_from_storage(row.photo_image, handle)
            image = {
                "id": row.photo_id,
                "file_name": file_name,
                "width": row.photo_width,
                "height": row.photo_height,
                "sha256": row.photo_sha256,
                "source_url": row.source_url,
            }
            self._append(self._images, image, self._photo is None)
            self._photo = row.photo_id
        x, y, w, h = row.box
        for idol in row.idols:
            self._annotation_id += 1
            annotation = {
                "id": self._annotation_id,
                "image_id": row.photo_id,
                "category_id": idol.id,
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": 0,
                "face_id": row.face_id,
            }
            self._append(self._annotations, annotation, self._annotation_id == 1)

    def finish(self) -> None:
        self._images.close()
        self._annotations.close()
        categories = [{"id": i.id, "name": i.name, "supercategory": "person"} for i in self.plan.idols]
        with (self.root / "annotations.json").open("w", encoding="utf-8") as out:
            out.write('{"info": {"description": "idolsite faces"}, "licenses": [],\n"images": [\n')
            self._copy(out, "images.part")
            out.write('\n],\n"annotations": [\n')
            self._copy(out, "annotations.part")
            out.write('\n],\n"categories": ')
            out.write(json.dumps(categories, ensure_ascii=False))
            out.write("}\n")

    def _copy(self, out: TextIO, part: str) -> None:
        path = self.root / part
        with path.open(encoding="utf-8") as handle:
            while block := handle.read(1 << 16):
                out.write(block)
        path.unlink()
