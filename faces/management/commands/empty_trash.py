from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from faces.models import Photo
from faces.services import photo_purge


class Command(BaseCommand):
    help = (
        "Erase photos that have been in the trash longer than --days (default 30): files and rows "
        "go, tombstones stay, so they are never imported again. The only hard delete of photos."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, days: int, dry_run: bool, **options: Any) -> None:
        cutoff = timezone.now() - timedelta(days=days)
        photos = list(Photo.all_objects.filter(trashed_at__lt=cutoff).order_by("trashed_at"))
        if dry_run:
            self.stdout.write(f"{len(photos)} photo(s) trashed before {cutoff:%Y-%m-%d} would be erased.")
            return
        for photo in photos:
            photo_purge(photo=photo)
        self.stdout.write(f"{len(photos)} photo(s) trashed before {cutoff:%Y-%m-%d} erased; their tombstones stay.")
