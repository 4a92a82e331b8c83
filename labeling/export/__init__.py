"""Labeled faces out as datasets others can train on: ``export_dataset`` and one module a format.

``FORMATS`` maps a format's name to its writer (``labeling.export.base.Writer``):
``imagefolder`` (a folder of crops per idol and a manifest), ``tfrecord`` (sharded
``tf.train.Example`` records) and ``coco`` (the original photos' boxes as one JSON).
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.translation import gettext

from labeling.export.base import ExportError, Plan, Writer, face_rows, make_plan, resolve_idols
from labeling.export.coco import CocoWriter
from labeling.export.imagefolder import ImageFolderWriter
from labeling.export.tfrecord import TFRecordWriter

FORMATS: dict[str, type[Writer]] = {w.name: w for w in (ImageFolderWriter, TFRecordWriter, CocoWriter)}

__all__ = ["FORMATS", "ExportError", "ExportResult", "check_options", "export_dataset", "resolve_idols"]


@dataclass
class ExportResult:
    path: Path
    plan: Plan
    written: int


def _check_output(out: Path) -> None:
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise ExportError(gettext("%(path)s already exists and is not an empty folder") % {"path": out}, field="out")
    if not out.parent.is_dir():
        raise ExportError(gettext("%(path)s: no such folder") % {"path": out.parent}, field="out")


def check_options(*, format: str, split: float | None, min_faces: int) -> type[Writer]:
    """The writer of ``format``, once the options are ones it can take (ExportError if not)."""
    writer_class = FORMATS.get(format)
    if writer_class is None:
        raise ExportError(gettext("Unknown export format %(format)s") % {"format": format}, field="format")
    if split is not None and not 0 < split < 1:
        raise ExportError(gettext("The split must be between 0 and 1 (the training fraction)"), field="split")
    if split is not None and not writer_class.supports_split:
        raise ExportError(gettext("The %(format)s export has no split") % {"format": format}, field="split")
    if min_faces < 1:
        raise ExportError(gettext("The minimum number of faces must be at least 1"), field="min_faces")
    return writer_class


def export_dataset(
    *,
    format: str,
    out: Path,
    idols: list[str] | None = None,
    min_faces: int = 1,
    split: float | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> ExportResult:
    """Write the labeled faces to ``out`` in ``format``. The files go to a temporary sibling
    folder renamed to ``out`` once complete; on any failure it is removed, so ``out`` either
    does not exist or holds a whole export. ``progress(done, total)`` is called after each face.
    ``options`` are the format's own (``shard_size`` for tfrecord, ``copy_images`` for coco)."""
    writer_class = check_options(format=format, split=split, min_faces=min_faces)
    out = Path(out).absolute()
    _check_output(out)
    plan = make_plan(
        idols=resolve_idols(idols),
        min_faces=min_faces,
        split=split,
        seed=seed,
        single_label=writer_class.single_label,
    )
    if not plan.idols:
        raise ExportError(gettext("No labeled faces to export"))
    tmp = out.with_name(f"{out.name}.partial-{secrets.token_hex(4)}")
    tmp.mkdir()
    written = 0
    try:
        writer = writer_class(tmp, plan, **options)
        writer.begin()
        for row in face_rows(plan, order=writer_class.order, single_label=writer_class.single_label):
            writer.add(row)
            written += 1
            if progress is not None:
                progress(written, max(plan.total, written))
        writer.finish()
        _check_output(out)  # nobody wrote there meanwhile
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(path=out, plan=plan, written=written)
