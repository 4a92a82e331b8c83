from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import DomainError
from faces import services
from faces.dedupe import PhashIndex
from faces.importing import Skip, SkipTally, candidate_files, local_image_bytes


def image_files(paths: list[str]) -> list[Path]:
    """Files named directly, and every file inside folders (recursively, sorted, hidden ones
    left out): those that are no image are skipped and counted."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(candidate_files(path))
        elif path.is_file():
            found.append(path)
        else:
            raise CommandError(f"{raw}: no such file or folder")
    return found


class Command(BaseCommand):
    help = (
        "Add photos (files, or folders searched recursively), in any format Pillow reads; each new "
        "photo goes to face detection. Ends with what was skipped and why."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH")

    def handle(self, *args: Any, paths: list[str], **options: Any) -> None:
        files = image_files(paths)
        added = 0
        skipped = SkipTally()
        index = PhashIndex()  # one for the whole import, kept up to date by photo_intake
        for path in tqdm(files, desc="photos", unit="photo", disable=options["verbosity"] < 1):
            try:
                data = local_image_bytes(path)
                intake = services.photo_intake(data=data, original_name=path.name, index=index)
            except Skip as exc:
                skipped.add(exc.reason, path, exc.detail)
                continue
            except DomainError as exc:  # the intake's decoder refused it
                skipped.add(SkipTally.DAMAGED, path, str(exc))
                continue
            if intake.outcome == "new":
                added += 1
            elif intake.outcome == "duplicate":
                skipped.add(SkipTally.ALREADY_STORED, path)
            else:
                skipped.add(SkipTally.TRASHED_BEFORE, path)
        for line in skipped.bad_lines():
            self.stderr.write(line)
        self.stdout.write(
            f"{added} photo(s) added, {skipped.count(SkipTally.ALREADY_STORED)} already stored, "
            f"{skipped.count(SkipTally.TRASHED_BEFORE)} trashed before, {skipped.bad} bad file(s) skipped."
        )
        for line in skipped.summary_lines():
            self.stdout.write(line)
