"""Crawling a source: list what is new, store each new photo once, remember where it stopped.

Dedupe, in order: the same item of the same source; the same URL; the same bytes (sha256); a
near-identical picture (perceptual hash within ``IDOLSITE_PHASH_MAX_DISTANCE`` bits and the same
shape: a re-encoded or resized repost). A duplicate is linked to the first photo as a
``PhotoSighting`` instead of being stored twice. A photo trashed once (its tombstone) is
never imported again. Each new photo goes to detection (``photo_create`` enqueues it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from faces import services
from faces.errors import DomainError, DuplicatePhoto, InvalidImage, TrashedBefore
from faces.http import Fetcher, FetchError
from faces.images import decode_image, dhash_hex, sha256_hex
from faces.models import Photo, PhotoSighting, PhotoTombstone, Source
from faces.sources import KINDS, Item

log = logging.getLogger(__name__)

CLAIM_STALE_AFTER = timedelta(hours=1)


@dataclass
class CrawlReport:
    source_id: int
    seen: int = 0
    new: int = 0
    duplicates: int = 0
    trashed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    error: str = ""  # the run itself failed (the feed could not be read)

    def summary(self) -> str:
        text = (
            f"{self.seen} seen, {self.new} new, {self.duplicates} duplicate(s), "
            f"{self.trashed} trashed before, {self.failed} failed"
        )
        return f"{text}; error: {self.error}" if self.error else text


class PhashIndex:
    """Perceptual hashes of stored (and trashed) photos for near-duplicate search.

    Loaded once per crawl run; a vectorised XOR and popcount over all hashes is fast enough for
    millions of photos, unlike a query per candidate."""

    def __init__(self) -> None:
        import numpy as np

        self._np = np
        rows = list(Photo.all_objects.values_list("phash", "id", "width", "height"))
        tomb = list(PhotoTombstone.objects.values_list("phash", flat=True))
        self.hashes = np.array([_signed(int(h, 16)) for h, *_ in rows], dtype=np.int64)
        self.photos = [(pid, w, h) for _, pid, w, h in rows]
        self.tombstones = np.array([_signed(int(h, 16)) for h in tomb if h], dtype=np.int64)

    def _distances(self, hashes, phash: str):
        np = self._np
        if hashes.size == 0:
            return np.array([], dtype=np.int64)
        xor = (hashes ^ np.int64(_signed(int(phash, 16)))).view(np.uint64)
        return np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)

    def near_photo(self, phash: str, width: int, height: int) -> int | None:
        distances = self._distances(self.hashes, phash)
        limit = settings.IDOLSITE_PHASH_MAX_DISTANCE
        for index in self._np.flatnonzero(distances <= limit)[:20]:
            photo_id, w, h = self.photos[index]
            if abs(w / h - width / height) <= 0.02 * (width / height):
                return photo_id
        return None

    def near_tombstone(self, phash: str) -> bool:
        distances = self._distances(self.tombstones, phash)
        return bool((distances <= settings.IDOLSITE_PHASH_MAX_DISTANCE).any())

    def add(self, photo: Photo) -> None:
        np = self._np
        self.hashes = np.append(self.hashes, np.int64(_signed(int(photo.phash, 16))))
        self.photos.append((photo.pk, photo.width, photo.height))


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


def _sighting(*, photo_id: int, source: Source, item: Item, how: str) -> None:
    try:
        with transaction.atomic():
            PhotoSighting.objects.get_or_create(
                source=source,
                source_item_id=item.item_id,
                defaults={"photo_id": photo_id, "source_url": item.url[:2000] if "://" in item.url else "", "how": how},
            )
    except IntegrityError:
        pass  # another worker recorded it a moment ago


def ingest_item(*, source: Source, item: Item, kind: object, fetcher: Fetcher, index: PhashIndex) -> str:
    """Store one item. Returns "new", "duplicate", "trashed" or raises FetchError/DomainError."""
    if (
        Photo.all_objects.filter(source=source, source_item_id=item.item_id).exists()
        or PhotoSighting.objects.filter(source=source, source_item_id=item.item_id).exists()
    ):
        return "duplicate"
    is_url = "://" in item.url
    if is_url:
        if PhotoTombstone.objects.filter(source_url=item.url).exists():
            return "trashed"
        same_url = Photo.all_objects.filter(source_url=item.url).values_list("id", flat=True).first()
        if same_url:
            _sighting(photo_id=same_url, source=source, item=item, how="url")
            return "duplicate"
    data = kind.download(item)  # type: ignore[attr-defined]
    sha = sha256_hex(data)
    if PhotoTombstone.objects.filter(sha256=sha).exists():
        return "trashed"
    same = Photo.all_objects.filter(sha256=sha).values_list("id", flat=True).first()
    if same:
        _sighting(photo_id=same, source=source, item=item, how="sha256")
        return "duplicate"
    decoded = decode_image(data)
    phash = dhash_hex(decoded.image)
    if index.near_tombstone(phash):
        return "trashed"
    near = index.near_photo(phash, decoded.width, decoded.height)
    if near:
        _sighting(photo_id=near, source=source, item=item, how="phash")
        return "duplicate"
    try:
        photo = services.photo_create(
            data=data,
            original_name=item.url.rsplit("/", 1)[-1].split("?")[0][:255],
            source=source,
            source_url=item.url if is_url else "",
            source_item_id=item.item_id,
            author=item.author,
            caption=item.caption,
            posted_at=item.posted_at,
        )
    except DuplicatePhoto as exc:  # stored by another worker meanwhile
        if exc.existing_id:
            _sighting(photo_id=exc.existing_id, source=source, item=item, how="sha256")
        return "duplicate"
    except TrashedBefore:
        return "trashed"
    index.add(photo)
    return "new"


def claim_source(source: Source) -> bool:
    """Take the source for this worker; False when another worker is crawling it now."""
    now = timezone.now()
    return bool(
        Source.objects.filter(pk=source.pk)
        .filter(Q(crawl_claimed_at__isnull=True) | Q(crawl_claimed_at__lt=now - CLAIM_STALE_AFTER))
        .update(crawl_claimed_at=now)
    )


def crawl_source(*, source: Source, progress: Callable[[int, int], None] | None = None) -> CrawlReport:
    """Crawl one source now. The cursor advances after each stored item, so an interrupted run
    resumes where it stopped; per-item failures are counted and recorded, never fatal."""
    report = CrawlReport(source_id=source.pk)
    if source.kind not in KINDS:
        raise DomainError(f"unknown source kind {source.kind!r}")
    if not claim_source(source):
        raise DomainError(f"{source} is being crawled by another worker", code="busy")
    started = timezone.now()
    fetcher = Fetcher()
    try:
        source.refresh_from_db()
        kind = KINDS[source.kind](source, fetcher)
        try:
            listing = kind.list_new()
        except FetchError as exc:
            report.error = str(exc)
            return report
        index = PhashIndex()
        hold_cursor = False  # after a transient failure: the next run lists that item again
        for number, item in enumerate(listing.items, start=1):
            report.seen += 1
            try:
                outcome = ingest_item(source=source, item=item, kind=kind, fetcher=fetcher, index=index)
            except (FetchError, InvalidImage, DomainError) as exc:
                outcome = "failed"
                hold_cursor = hold_cursor or (isinstance(exc, FetchError) and not exc.permanent)
                report.errors.append(f"{item.url}: {exc}" if item.url not in str(exc) else str(exc))
            if outcome == "new":
                report.new += 1
            elif outcome == "duplicate":
                report.duplicates += 1
            elif outcome == "trashed":
                report.trashed += 1
            else:
                report.failed += 1
            if item.cursor and not hold_cursor:
                source.state = {**(source.state or {}), **item.cursor}
                Source.objects.filter(pk=source.pk).update(state=source.state)
            if progress:
                progress(number, len(listing.items))
        if not hold_cursor:
            source.state = {**(source.state or {}), **listing.state}
        Source.objects.filter(pk=source.pk).update(state=source.state, last_success_at=timezone.now())
        return report
    finally:
        error = report.error or (
            f"{len(report.errors)} item(s) failed; last: {report.errors[-1]}" if report.errors else ""
        )
        Source.objects.filter(pk=source.pk).update(
            crawl_claimed_at=None,
            last_run_at=started,
            last_error=error[:5000],
            seen_count=F("seen_count") + report.seen,
            new_count=F("new_count") + report.new,
            duplicate_count=F("duplicate_count") + report.duplicates + report.trashed,
            failed_count=F("failed_count") + report.failed,
        )
        log.info("crawled %s: %s", source, report.summary())
