"""Import ready face crops: one folder per person, each image one labeled face."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import DomainError, DuplicatePhoto, TrashedBefore
from faces.images import sha256_hex
from faces.management.commands.import_photos import IMAGE_SUFFIXES
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
        "idol's name). Each image becomes a photo with one face labeled with that idol. Running "
        "it again adds nothing; bad files are reported and skipped."
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
        files = [
            (person, path)
            for person in people
            for path in sorted(person.iterdir())
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
        ]
        # Hashes already stored or trashed: skipped without decoding, so a re-run is quick.
        known = set(Photo.all_objects.values_list("sha256", flat=True))
        known |= set(PhotoTombstone.objects.values_list("sha256", flat=True))
        idols: dict[Path, Idol] = {}
        added = skipped = 0
        new_idols: list[str] = []
        bad: list[tuple[Path, str]] = []
        for person, path in tqdm(files, desc="faces", unit="face", disable=options["verbosity"] < 1):
            try:
                data = path.read_bytes()
            except OSError as exc:
                bad.append((path, str(exc)))
                continue
            sha = sha256_hex(data)
            if sha in known:
                skipped += 1
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
            except (DuplicatePhoto, TrashedBefore):  # a re-encoded copy of a stored or trashed photo
                skipped += 1
                continue
            except DomainError as exc:
                bad.append((path, str(exc)))
                continue
            known.add(sha)
            added += 1
        for path, reason in bad:
            self.stderr.write(f"skipped {path}: {reason}")
        self.stdout.write(
            f"{added} face(s) imported for {len(people)} people ({len(new_idols)} new idol(s)); "
            f"{skipped} already there; {len(bad)} bad file(s) skipped."
        )
