"""The files a backup holds, read and written through Django's storage API: the media (photos,
thumbnails, crops, exports) from ``default_storage`` and each model version's folder from
``model_storage()``, so a backup works the same wherever the files live."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from django.core.files.storage import Storage, default_storage, storages

CHUNK = 1024 * 1024

MEDIA = "media"
MODELS = "models"
AREAS = (MEDIA, MODELS)


def model_storage() -> Storage:
    """Where the classifier's model folders live: ``STORAGES["models"]`` (``IDOLSITE_MODEL_DIR``
    or the bucket's ``models/``), each folder with the manifest written last."""
    return storages["models"]


def storage_for(area: str) -> Storage:
    return default_storage if area == MEDIA else model_storage()


@dataclass(frozen=True)
class Entry:
    """One file of a backup's manifest: its area, its key within that area's storage, its size
    and the sha256 of its content."""

    area: str
    key: str
    size: int
    sha256: str

    def as_dict(self) -> dict[str, object]:
        return {"area": self.area, "key": self.key, "size": self.size, "sha256": self.sha256}


def walk(storage: Storage, prefix: str = "") -> Iterator[str]:
    """Every file key under ``prefix``, depth first, in a stable order; nothing when the folder
    does not exist (a fresh site has no media folder yet)."""
    try:
        folders, files = storage.listdir(prefix)
    except FileNotFoundError:
        return
    for name in sorted(files):
        yield f"{prefix}/{name}" if prefix else name
    for name in sorted(folders):
        yield from walk(storage, f"{prefix}/{name}" if prefix else name)


def copy_hashing(source: IO[bytes], target: IO[bytes] | None = None) -> tuple[int, str]:
    """Read ``source`` to its end (writing it to ``target`` if given): its size and sha256."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if target is not None:
            target.write(chunk)
    return size, digest.hexdigest()


def stored_hash(storage: Storage, key: str) -> tuple[int, str] | None:
    """Size and sha256 of a stored file, None when it does not exist."""
    try:
        with storage.open(key, "rb") as file:
            return copy_hashing(file)
    except FileNotFoundError:
        return None


def safe_key(key: str) -> bool:
    """A manifest's key stays inside its area: relative, no ``..``, no empty part."""
    parts = key.split("/")
    return bool(key) and not key.startswith("/") and "\\" not in key and all(p not in ("", ".", "..") for p in parts)
