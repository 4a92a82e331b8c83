"""Dataset exports as jobs: asked for from the API or the admin, written by the task queue
(``labeling.tasks.export_dataset``) into one zip archive in the media storage, then downloaded
and deleted.

The archive is built in a work folder, then handed to the storage in one piece (on the file
system storage, a work folder inside it makes that a rename); the row names the file only once
it is stored whole, so an export that crashes never has a file that looks finished.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from labeling.export import ExportError, check_options, export_dataset, resolve_idols
from labeling.models import DatasetExport
from labeling.services._common import User, _user

log = logging.getLogger(__name__)

EXPORTS_FOLDER = "exports"
WORK_FOLDER = f"{EXPORTS_FOLDER}/.partial"
# Progress and the heartbeat are written at most this often while an export runs.
PROGRESS_EVERY_SECONDS = 1.0
MAX_SHARD_SIZE = 100_000
# Crops and shards are JPEG already: stored as they are, the rest compressed.
_STORED = {".jpg", ".jpeg", ".png", ".webp", ".tfrecord"}


@transaction.atomic
def export_request(
    *,
    format: str,
    idols: list[str] | None = None,
    min_faces: int = 1,
    split: float | None = None,
    seed: int = 0,
    shard_size: int | None = None,
    copy_images: bool = False,
    user: User = None,
) -> DatasetExport:
    """Queue an export. The options are checked now (a bad one raises ExportError and queues
    nothing); the idols, given by id or name, are kept as ids."""
    check_options(format=format, split=split, min_faces=min_faces)
    if shard_size is not None and not 1 <= shard_size <= MAX_SHARD_SIZE:
        raise ExportError(
            gettext("The shard size must be between 1 and %(max)s") % {"max": MAX_SHARD_SIZE}, field="shard_size"
        )
    options: dict[str, Any] = {"min_faces": min_faces, "split": split, "seed": seed}
    if idols:
        options["idols"] = [idol.pk for idol in resolve_idols([str(i) for i in idols])]
    if format == "tfrecord" and shard_size is not None:
        options["shard_size"] = shard_size
    if format == "coco" and copy_images:
        options["copy_images"] = True
    fail_stale_exports()
    export = DatasetExport.objects.create(format=format, options=options, requested_by=_user(user))
    transaction.on_commit(lambda: _enqueue(export.pk))
    return export


def _enqueue(export_id: int) -> None:
    from django_q.tasks import async_task

    async_task("labeling.tasks.export_dataset", export_id, task_name=f"export-{export_id}")


def export_delete(*, export: DatasetExport) -> None:
    """Delete an export and its file. A running one stops at its next progress save and
    leaves nothing behind."""
    with transaction.atomic():
        row = DatasetExport.objects.select_for_update().filter(pk=export.pk).first()
        if row is None:
            return
        name = row.file.name
        row.delete()
        if name:
            transaction.on_commit(lambda: default_storage.delete(name))


def fail_stale_exports(*, seconds: int | None = None) -> int:
    """Running exports whose worker stopped (killed, or past the task timeout) become failed,
    and their work folders go."""
    seconds = settings.IDOLSITE_TASK_TIMEOUT + 60 if seconds is None else seconds
    failed = 0
    for export_id in DatasetExport.objects.stale(seconds=seconds).values_list("id", flat=True):
        error = gettext("The worker stopped (no progress for more than %(seconds)s s).") % {"seconds": seconds}
        if _finish(export_id, status=DatasetExport.Status.FAILED, error=error):
            failed += 1
            _remove_work_folders(export_id)
    if failed:
        log.warning("%s dataset export(s) failed: no progress for %s s", failed, seconds)
    return failed


# --- running --------------------------------------------------------------------------------


class _Gone(Exception):
    """The export was deleted (or failed by the sweep) while it ran."""


class _Progress:
    """Writes done/total and the heartbeat at most every PROGRESS_EVERY_SECONDS, and the last
    face's; raises _Gone when the row is no longer a running export."""

    def __init__(self, export_id: int) -> None:
        self.export_id = export_id
        self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if done < total and time.monotonic() - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.save(done=done, total=total)

    def beat(self) -> None:
        if time.monotonic() - self.last >= PROGRESS_EVERY_SECONDS:
            self.save()

    def save(self, **fields: Any) -> None:
        self.last = time.monotonic()
        running = DatasetExport.objects.filter(pk=self.export_id, status=DatasetExport.Status.RUNNING)
        if not running.update(heartbeat_at=timezone.now(), **fields):
            raise _Gone


def _claim(export_id: int) -> bool:
    """Queued -> running by one conditional UPDATE: a task delivered twice runs once."""
    now = timezone.now()
    return bool(
        DatasetExport.objects.filter(pk=export_id, status=DatasetExport.Status.QUEUED).update(
            status=DatasetExport.Status.RUNNING, started_at=now, heartbeat_at=now
        )
    )


def _finish(export_id: int, **fields: Any) -> bool:
    return bool(
        DatasetExport.objects.filter(pk=export_id, status=DatasetExport.Status.RUNNING).update(
            finished_at=timezone.now(), **fields
        )
    )


def _work_root() -> Path:
    """Inside the storage's own folder when it has one (the stored file is then a rename),
    else the system's temporary folder."""
    try:
        root = Path(default_storage.path(WORK_FOLDER))
    except NotImplementedError:
        root = Path(tempfile.gettempdir()) / "idolsite-exports"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _remove_work_folders(export_id: int) -> None:
    for folder in _work_root().glob(f"{export_id}-*"):
        shutil.rmtree(folder, ignore_errors=True)


class _LocalFile(File):
    """A finished archive on local disk: the file system storage moves it instead of copying."""

    def temporary_file_path(self) -> str:
        return self.name


def zip_folder(folder: Path, target: Path, *, top: str, beat: Callable[[], None] = lambda: None) -> None:
    """``folder``'s files into ``target`` under the folder ``top``, one file at a time."""
    with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
        for current, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = Path(current) / name
                kind = zipfile.ZIP_STORED if path.suffix.lower() in _STORED else zipfile.ZIP_DEFLATED
                archive.write(path, f"{top}/{path.relative_to(folder).as_posix()}", compress_type=kind)
                beat()


def _error_message(exc: BaseException) -> str:
    if isinstance(exc, ExportError):
        return str(exc)
    if isinstance(exc, FileNotFoundError) and exc.filename:
        name = Path(exc.filename)
        media = Path(settings.MEDIA_ROOT)
        shown = name.relative_to(media).as_posix() if name.is_relative_to(media) else name.name
        return gettext("A stored file is missing: %(name)s") % {"name": shown}
    return gettext("The export failed: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"}


def export_execute(*, export_id: int) -> DatasetExport | None:
    """Run a queued export to its end: done with its file, or failed with the reason and no
    file. Returns None when the row is gone or was not queued (already taken by a worker)."""
    fail_stale_exports()
    if not _claim(export_id):
        return None
    export = DatasetExport.objects.get(pk=export_id)
    options = export.options
    progress = _Progress(export_id)
    work = Path(tempfile.mkdtemp(prefix=f"{export_id}-", dir=_work_root()))
    stored = ""
    try:
        result = export_dataset(
            format=export.format,
            out=work / "export",
            idols=[str(i) for i in options["idols"]] if options.get("idols") else None,
            min_faces=options.get("min_faces", 1),
            split=options.get("split"),
            seed=options.get("seed", 0),
            progress=progress,
            **{k: options[k] for k in ("shard_size", "copy_images") if k in options},
        )
        progress.save(done=result.written, total=result.written)
        archive = work / export.filename
        zip_folder(result.path, archive, top=Path(export.filename).stem, beat=progress.beat)
        size = archive.stat().st_size
        name = f"{EXPORTS_FOLDER}/{Path(export.filename).stem}-{secrets.token_hex(8)}.zip"
        with _LocalFile(archive.open("rb"), name=str(archive)) as handle:
            stored = default_storage.save(name, handle)
        if not _finish(export_id, status=DatasetExport.Status.DONE, file=stored, size=size, error=""):
            raise _Gone
    except _Gone:
        if stored:
            default_storage.delete(stored)
        log.info("dataset export %s was deleted while it ran", export_id)
        return None
    except Exception as exc:
        if stored:
            default_storage.delete(stored)
        log.warning("dataset export %s failed", export_id, exc_info=not isinstance(exc, ExportError))
        _finish(export_id, status=DatasetExport.Status.FAILED, error=_error_message(exc))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return DatasetExport.objects.filter(pk=export_id).first()
