"""The model files in their storage (``STORAGES["models"]``: ``IDOLSITE_MODEL_DIR`` or a bucket).

A model is written to a local folder first (Keras saves to a path), then each file is stored
under the version's new folder, and ``manifest.json`` (every file with its size and sha256) is
written last: a folder without its manifest is no model, and the ModelVersion row is created
only once the manifest is stored. A machine that reads from a bucket downloads the files to
``IDOLSITE_MODEL_CACHE_DIR/<version>-<folder>/``, checks every hash, and loads from there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages

from classifier.ml.classifier import IncompatibleModel, set_aside
from classifier.models import ModelVersion
from core.files import make_private_dirs
from core.storage import local_root

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_CHUNK = 1024 * 1024


def model_storage() -> Storage:
    return storages["models"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def model_files_publish(*, source: Path, directory: str) -> dict:
    """Store the files of ``source`` under ``directory``, then the manifest. Raises (and removes
    what it stored) when a file cannot be stored or the folder is already taken; returns the
    manifest."""
    storage = model_storage()
    if storage.exists(f"{directory}/{MANIFEST}"):
        raise FileExistsError(f"model folder {directory} already holds a model")
    files = {}
    stored: list[str] = []
    try:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            relative = path.relative_to(source).as_posix()
            if relative == MANIFEST:
                continue
            name = f"{directory}/{relative}"
            with path.open("rb") as handle:
                saved = storage.save(name, File(handle, name=path.name))
            stored.append(saved)
            if saved != name:  # the storage renamed it: the manifest would point elsewhere
                raise FileExistsError(f"model file {name} already exists")
            files[relative] = {"size": path.stat().st_size, "sha256": _sha256(path)}
        manifest = {"files": files}
        name = f"{directory}/{MANIFEST}"
        stored.append(storage.save(name, ContentFile(json.dumps(manifest, indent=1).encode())))
    except BaseException:
        for name in stored:
            with contextlib.suppress(Exception):
                storage.delete(name)
        raise
    return manifest


def _read_manifest(storage: Storage, directory: str) -> dict:
    try:
        with storage.open(f"{directory}/{MANIFEST}", "rb") as handle:
            manifest = json.loads(handle.read())
    except (FileNotFoundError, ValueError) as exc:  # not a network error: that one is retried later
        raise IncompatibleModel(f"{directory}: no readable {MANIFEST} (an upload that did not finish?): {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IncompatibleModel(f"{directory}/{MANIFEST}: not a manifest")
    return manifest


def _cache_folder(pk: int, directory: str) -> Path:
    return Path(settings.IDOLSITE_MODEL_CACHE_DIR) / f"{pk}-{directory}"


def model_files_local(version: ModelVersion) -> Path:
    """A local folder holding ``version``'s files: the storage's own on local disk, else the
    cache, filled from the bucket the first time (a half-done download is never taken for a
    whole one: it is renamed into place once every hash matched). Raises
    :class:`IncompatibleModel` for missing, incomplete or altered files."""
    storage = model_storage()
    root = local_root(storage)
    if root is not None:
        return root / version.directory
    target = _cache_folder(version.pk, version.directory)
    if (target / MANIFEST).is_file():
        return target
    manifest = _read_manifest(storage, version.directory)
    make_private_dirs(target.parent)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for relative, entry in manifest["files"].items():
            local = work / relative
            if not local.resolve().is_relative_to(work.resolve()):
                raise IncompatibleModel(f"{version.directory}/{MANIFEST}: a file outside its folder: {relative}")
            make_private_dirs(local.parent)
            digest = hashlib.sha256()
            try:
                with storage.open(f"{version.directory}/{relative}", "rb") as source, local.open("wb") as out:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            except FileNotFoundError as exc:
                raise IncompatibleModel(f"{version.directory}/{relative}: {exc}") from exc
            if digest.hexdigest() != entry.get("sha256"):
                raise IncompatibleModel(f"{version.directory}/{relative}: its hash is not the manifest's")
        (work / MANIFEST).write_text(json.dumps(manifest))
        try:
            work.rename(target)
        except OSError:
            if not (target / MANIFEST).is_file():  # not another process's finished download
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def model_file_names(version: ModelVersion) -> set[str]:
    """The names of the files in ``version``'s folder (the evaluation pictures among them)."""
    storage = model_storage()
    try:
        _, files = storage.listdir(version.directory)
    except (FileNotFoundError, NotADirectoryError):
        return set()
    return set(files)


def model_file_open(version: ModelVersion, name: str):  # -> File
    return model_storage().open(f"{version.directory}/{name}", "rb")


def _delete_folder(storage: Storage, folder: str) -> None:
    try:
        folders, files = storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in files:
        with contextlib.suppress(FileNotFoundError):
            storage.delete(f"{folder}/{name}")
    for name in folders:
        _delete_folder(storage, f"{folder}/{name}")


def model_files_delete(*, pk: int, directory: str) -> None:
    """Remove a version's files from the storage and from this machine's cache."""
    storage = model_storage()
    root = local_root(storage)
    if root is not None:
        shutil.rmtree(root / directory, ignore_errors=True)
    else:
        _delete_folder(storage, directory)
    shutil.rmtree(_cache_folder(pk, directory), ignore_errors=True)


def model_files_set_aside(version: ModelVersion) -> None:
    """Unusable files: on local disk the folder is moved aside (kept for a post-mortem); in a
    bucket the objects stay where they are (the row is marked) and the local copy goes."""
    root = local_root(model_storage())
    if root is not None:
        set_aside(root / version.directory)
    else:
        shutil.rmtree(_cache_folder(version.pk, version.directory), ignore_errors=True)
