"""A small site worth backing up, and a snapshot of everything a restore must bring back, taken
the same way in the test process and in the restored site's own process."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.conf import settings

from classifier.models import ModelVersion
from faces.models import Face, Photo
from faces.services import photo_trash
from labeling.models import FaceLabel, Idol, LabelEvent
from labeling.services import face_label, face_unlabel, idol_soft_delete
from tests.factories import make_face, make_idol, make_photo

MODELS = (Photo, Face, FaceLabel, LabelEvent, Idol, ModelVersion)


def build_world() -> None:
    """Photos with files, faces with crops, labels and their events (one undone), a graduated
    idol, a trashed photo, and an active model version with its files (no training: any bytes)."""
    aiko, bunko, graduate = make_idol("Aiko"), make_idol("Bunko"), make_idol("Chiyo")
    photo = make_photo()
    faces = [make_face(photo, box=(10, 10, 50, 60)), make_face(photo, box=(100, 40, 60, 70))]
    faces += [make_face() for _ in range(3)]
    for face, idol in zip(faces, (aiko, bunko, aiko, graduate, bunko), strict=True):
        face_label(face=face, idol=idol)
    face_unlabel(face=faces[4], idol=bunko)
    idol_soft_delete(idol=graduate)
    photo_trash(photo=make_face().photo)
    directory = Path(settings.IDOLSITE_MODEL_DIR) / "20260101-000000-run1"
    (directory / "charts").mkdir(parents=True)
    (directory / "model.keras").write_bytes(bytes(range(256)) * 40)
    (directory / "model.json").write_text(json.dumps({"format_version": 1, "class_idol_ids": [aiko.pk, bunko.pk]}))
    (directory / "charts" / "confusion.png").write_bytes(b"\x89PNG not really")
    ModelVersion.objects.create(
        directory=directory.name,
        format_version=1,
        class_idol_ids=[aiko.pk, bunko.pk],
        input_size=16,
        fingerprint="f" * 64,
        val_top1=0.9,
        is_active=True,
    )


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def snapshot() -> dict:
    """Every row of the main tables (trashed and deleted ones too), the media files and the
    active model's files, with their hashes."""
    rows = {
        model._meta.label: json.loads(json.dumps(list(model._base_manager.order_by("pk").values()), default=str))
        for model in MODELS
    }
    active = ModelVersion.objects.active()
    return {
        "rows": rows,
        "media": _hashes(Path(settings.MEDIA_ROOT)),
        "active_model": active.directory if active else None,
        "active_model_files": _hashes(active.path) if active else {},
    }
