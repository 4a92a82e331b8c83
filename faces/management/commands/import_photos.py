from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import DomainError
from faces import services
from faces.dedupe import PhashIndex

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


def image_files(paths: list[str]) -> list[Path]:
    """Files named directly, and image files (by suffix) inside folders, recursively, sorted."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise CommandError(f"{raw}: no such file or folder")
    return found


class Command(BaseCommand):
    help = "Add photos (files, or folders searched recursively); each new photo goes to face detection."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH")

    def handle(self, *args: Any, paths: list[str], **options: Any) -> None:
        files = image_files(paths)
        added = duplicates = trashed = 0
        bad: list[tuple[Path, str]] = []
        index = PhashIndex()  # one for the whole import, kept up to date by photo_intake
        for path in tqdm(files, desc="photos", unit="photo", disable=options["verbosity"] < 1):
            try:
                intake = services.photo_intake(data=path.read_bytes(), original_name=path.name, index=index)
            except (DomainError, OSError) as exc:
                bad.append((path, str(exc)))
                continue
            if intake.outcome == "new":
                added += 1
            elif intake.outcome == "duplicate":
                duplicates += 1
            else:
                trashed += 1
        for path, reason in bad:
            self.stderr.write(f"skipped {path}: {reason}")
        self.stdout.write(
            f"{added} photo(s) added, {duplicates} already stored, {trashed} trashed before, {len(bad)} bad file(s) skipped."
        )
