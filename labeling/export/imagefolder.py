"""ImageFolder: a folder of aligned crops per idol and ``manifest.csv``.

The folder is the idol's name with spaces as underscores (what ``manage.py import_faces`` and
Keras' ``image_dataset_from_directory`` read back as her name), made safe for any file system;
two idols whose folders would be one (the same name, or names equal but for case) get their id
appended (``Mei-12``). The split is a column of the manifest, not sub-folders, so the export
stays one folder per class for the readers above.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from pathlib import PurePosixPath
from typing import TextIO

from django.core.files.storage import default_storage

from labeling.export.base import ExportIdol, FaceRow, Writer

MANIFEST_COLUMNS = [
    "face_id",
    "file",
    "idol_id",
    "labels",
    "photo_id",
    "photo_sha256",
    "source_url",
    "x",
    "y",
    "w",
    "h",
    "split",
]
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')


def safe_folder_name(name: str) -> str:
    """A folder name on every common file system: no separators or reserved characters, no
    leading dot (hidden, skipped by importers), no trailing dot or space, at most 100 characters."""
    text = unicodedata.normalize("NFC", name)
    text = _UNSAFE.sub("_", "_".join(text.split()))
    return text.lstrip(".").rstrip(". ")[:100]


def folder_names(idols: list[ExportIdol]) -> dict[int, str]:
    names = {idol.id: safe_folder_name(idol.name) or f"idol-{idol.id}" for idol in idols}
    clashes = Counter(n.casefold() for n in names.values())
    return {i: (f"{n}-{i}" if clashes[n.casefold()] > 1 else n) for i, n in names.items()}


def copy_from_storage(name: str, handle) -> None:
    """Copy a stored file in blocks: one crop at a time, never whole files in memory."""
    with default_storage.open(name, "rb") as source:
        while block := source.read(1 << 16):
            handle.write(block)


class ImageFolderWriter(Writer):
    name = "imagefolder"

    def begin(self) -> None:
        self.folders = folder_names(self.plan.idols)
        for folder in self.folders.values():
            (self.root / folder).mkdir()
        self._manifest: TextIO = (self.root / "manifest.csv").open("w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._manifest)
        self._csv.writerow(MANIFEST_COLUMNS)

    def add(self, row: FaceRow) -> None:
        idol = row.idols[0]
        suffix = PurePosixPath(row.crop).suffix.lower() or ".jpg"
        relative = f"{self.folders[idol.id]}/{row.face_id}{suffix}"
        with (self.root / relative).open("wb") as handle:
            copy_from_storage(row.crop, handle)
        self._csv.writerow(
            [
                row.face_id,
                relative,
                idol.id,
                "|".join(i.name for i in row.idols),
                row.photo_id,
                row.photo_sha256,
                row.source_url,
                *row.box,
                row.split,
            ]
        )

    def finish(self) -> None:
        self._manifest.close()
