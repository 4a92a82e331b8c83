"""Import ready face crops: one folder per person, each image one labeled face."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import DomainError, DuplicatePhoto, TrashedBefore
from faces.images import sha256_hex
from faces.importing import Skip, SkipTally, candidate_files, local_image_bytes
from faces.models import Photo, PhotoTombstone
from labeling.models import Idol
from labeling.services import face_import, idol_create
from labeling.services.names import DuplicateIdol


def person_name(folder: Path) -> str:
    """The idol's name from a folder name: ``Daniel_Radcliffe`` -> ``Daniel Radcliffe``."""
    return " ".join(folder.name.replace("_", " ").split())


class Command(BaseCommand):
    help = (
        "Import a folder of face crops with one sub-folder per person (the folder's name is the "
        "idol's name). Each image, in any format Pillow reads, becomes a photo with one face "
        "labeled with that idol. Running it again adds nothing; it ends with what was skipped and why."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("directory")

    def handle(self, *args: Any, directory: str, **options: Any) -> None:
        root = Path(directory)
        if not root.is_dir():
            raise CommandError(f"{directory}: not a folder")
        people = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not people:
            raise CommandError(f"{directory}: no sub-folders (expected one folder per person)")
        files = [(person, path) for person in people for path in candidate_files(person)]
        # Hashes already stored or trashed: skipped without storing anything, so a re-run is quick.
        known = set(Photo.all_objects.values_list("sha256", flat=True))
        trashed = set(PhotoTombstone.objects.values_list("sha256", flat=True))
        idols: dict[Path, Idol] = {}
        added = 0
        new_idols: list[str] = []
        skipped = SkipTally()
        for person, path in tqdm(files, desc="faces", unit="face", disable=options["verbosity"] < 1):
            try:
                data = local_image_bytes(path)
            except Skip as exc:
                skipped.add(exc.reason, path, exc.detail)
                continue
            sha = sha256_hex(data)
            if sha in known or sha in trashed:
                skipped.add(SkipTally.ALREADY_STORED if sha in known else SkipTally.TRASHED_BEFORE, path)
                continue
            if person not in idols:
                name = person_name(person)
                try:
                    idol = idol_create(name=name)
                    new_idols.append(name)
                except DuplicateIdol as exc:  # her folder's name is an idol's name or alias: hers
                    idol = exc.existing
                idols[person] = idol
            try:
                face_import(data=data, idol=idols[person], original_name=f"{person.name}/{path.name}")
            except DuplicatePhoto:  # a re-encoded copy of a stored photo
                skipped.add(SkipTally.ALREADY_STORED, path)
                continue
            except TrashedBefore:
                skipped.add(SkipTally.TRASHED_BEFORE, path)
                continue
            except DomainError as exc:  # the intake's decoder refused it
                skipped.add(SkipTally.DAMAGED, path, str(exc))
                continue
            known.add(sha)
            added += 1
        for line in skipped.bad_lines():
            self.stderr.write(line)
        already = skipped.count(SkipTally.ALREADY_STORED, SkipTally.TRASHED_BEFORE)
        self.stdout.write(
            f"{added} face(s) imported for {len(people)} people ({len(new_idols)} new idol(s)); "
            f"{already} already there; {skipped.bad} bad file(s) skipped."
        )
        for line in skipped.summary_lines():
            self.stdout.write(line)
