"""Back up the site into a new folder: the database, a manifest of the media and model files
with their hashes, and the files (backups.services)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext

from backups.errors import BackupError
from backups.services import backup_create


class Command(BaseCommand):
    help = (
        "Write a consistent backup of the running site into DEST, a new folder: the database (SQLite's "
        "online backup, or pg_dump), backup.json (time, migrations, counts) and manifest.jsonl (every media "
        "and model file with its size and sha256), and the files themselves. DEST appears only once complete."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("dest", help="A folder that does not exist yet (or is empty).")
        parser.add_argument(
            "--no-media",
            action="store_true",
            help="Only list the media and model files with their hashes, do not copy them (for storage that "
            "keeps its own versions); restore then checks they are still there unchanged.",
        )

    def handle(self, *args: Any, dest: str, no_media: bool, **options: Any) -> None:
        try:
            backup = backup_create(dest=Path(dest), files=not no_media, log=self.stdout.write)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        counts = ", ".join(f"{name} {count}" for name, count in backup.info["counts"].items())
        self.stdout.write(gettext("Backup written to %(path)s (%(counts)s).") % {"path": backup.path, "counts": counts})
