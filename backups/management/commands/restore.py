"""Restore a backup written by ``manage.py backup`` into an empty database and storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext

from backups.errors import BackupError
from backups.services import backup_restore


class Command(BaseCommand):
    help = (
        "Restore the backup in SRC into the configured database and media storage, which must be empty "
        "(migrated or not). Every file's sha256 is checked against the manifest before anything is written "
        "and again once stored; then the migrations run (an older backup moves forward) and the counts are "
        "compared with backup.json. Stop the web server and workers first."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("src", help="A backup folder written by manage.py backup.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="DESTRUCTIVE: restore even when the database holds photos, faces or labels (they are "
            "erased) or the storage holds other files (those at the backup's keys are replaced).",
        )

    def handle(self, *args: Any, src: str, force: bool, **options: Any) -> None:
        try:
            backup = backup_restore(src=Path(src), force=force, log=self.stdout.write)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        counts = ", ".join(f"{name} {count}" for name, count in backup.info["counts"].items())
        self.stdout.write(
            gettext("Backup of %(created)s restored (%(counts)s).")
            % {"created": backup.info["created"], "counts": counts}
        )
