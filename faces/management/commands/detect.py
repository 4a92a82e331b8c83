"""Detect faces now, in this process, with a progress bar: waiting photos, failed ones, or all."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone
from tqdm import tqdm

from faces.detectors import DETECTORS
from faces.models import Photo
from faces.tasks import detect_photo


class Command(BaseCommand):
    help = (
        "Detect faces in photos waiting for detection (default), in failed photos (--failed) or in "
        "every photo again (--all); labels of faces found again are kept."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--backend", choices=sorted(DETECTORS), help="Detector (default: IDOLSITE_DETECTOR).")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--all", action="store_true", help="Detect every photo not in the trash again.")
        which.add_argument("--failed", action="store_true", help="Retry the photos whose detection failed.")

    def handle(self, *args: Any, backend: str | None, all: bool, failed: bool, **options: Any) -> None:
        if all:
            photos = Photo.objects.order_by("id")
        elif failed:
            photos = Photo.objects.failed().order_by("id")
        else:
            photos = Photo.objects.pending_detection()
        ids = list(photos.values_list("id", flat=True))
        if not ids:
            self.stdout.write("No photo to detect.")
            return
        started = timezone.now()
        for photo_id in tqdm(ids, desc="detect", unit="photo", disable=options["verbosity"] < 1):
            detect_photo(photo_id, detector=backend, redetect=all or failed)
        done = Photo.all_objects.filter(pk__in=ids, detected_at__gte=started)
        detected = done.filter(status=Photo.Status.DETECTED).count()
        failures = list(done.filter(status=Photo.Status.FAILED).values_list("id", "error"))
        for photo_id, error in failures:
            self.stderr.write(f"photo {photo_id}: {error}")
        skipped = len(ids) - detected - len(failures)
        self.stdout.write(
            f"{detected} photo(s) detected, {len(failures)} failed, {skipped} skipped (claimed by a worker or changed meanwhile)."
        )
