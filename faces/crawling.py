"""Crawling a source: list what is new, store each new photo once, remember where it stopped.

Dedupe follows ``faces.services.photo_intake``, the rules of every way in: the same item of the
same source; the same URL; the same bytes (sha256); a near-identical picture (perceptual hash
within ``IDOLSITE_PHASH_MAX_DISTANCE`` bits and the same shape: a re-encoded or resized repost).
A duplicate is linked to the first photo as a ``PhotoSighting`` instead of being stored twice. A
photo trashed once (its tombstone) is never imported again. Each new photo goes to detection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import ngettext

from core.errors import DomainError, InvalidImage
from faces import services
from faces.dedupe import PhashIndex
from faces.http import Fetcher, FetchError
from faces.models import Source
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


def ingest_item(*, source: Source, item: Item, kind: object, fetcher: Fetcher, index: PhashIndex) -> str:
    """Store one item through the duplicate rules of ``services.photo_intake``; what needs no
    download is checked first. Returns "new", "duplicate", "trashed" or raises
    FetchError/DomainError."""
    source_url = item.url if "://" in item.url else ""
    known = services.photo_known(source=source, source_item_id=item.item_id, source_url=source_url)
    if known is not None:
        return known.outcome
    data = kind.download(item)  # type: ignore[attr-defined]
    return services.photo_intake(
        data=data,
        original_name=item.url.rsplit("/", 1)[-1].split("?")[0][:255],
        source=source,
        source_url=source_url,
        source_item_id=item.item_id,
        author=item.author,
        caption=item.caption,
        posted_at=item.posted_at,
        index=index,
    ).outcome


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
        error = report.error
        if not error and report.errors:
            count = len(report.errors)
            error = ngettext(
                "%(count)d item failed; last: %(error)s", "%(count)d items failed; last: %(error)s", count
            ) % {"count": count, "error": report.errors[-1]}
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
