"""Reads for the photo feed (/label/photos/): the newest photos with their faces and labels,
filtered by source, detection state and unlabeled faces, a page at a time (keyset on the id);
and the states of the photos a page shows, for its live updates. Each runs a fixed number of
queries, whatever the page size (pinned in tests/labeling/test_pages_feed.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.api import MAX_ID
from faces.models import Face, Photo
from labeling.models import FaceLabel

# A photo's detection as the feed says it (photo_state): waiting, detecting, done, failed.
STATES = {
    "waiting": _("waiting"),
    "detecting": _("detecting"),
    "done": _("done"),
    "failed": _("failed"),
}
FEED_PAGE_SIZE = 24
MAX_PAGE_SIZE = 100
MAX_STATUS_IDS = 200


@dataclass(frozen=True)
class FeedFilters:
    source: int | None = None
    state: str = ""  # one of STATES, or "" for every state
    unlabeled: bool = False  # only photos with a face that is neither labeled nor excluded


@dataclass
class FeedPage:
    photos: list[Photo]
    next_cursor: str | None


def _live_claim(now: datetime) -> Q:
    """A claim a worker still holds: older ones belong to a dead worker (see faces.services)."""
    return Q(detection_claimed_at__gte=now - timedelta(seconds=settings.IDOLSITE_DETECT_CLAIM_TIMEOUT))


def photo_state(photo: Photo, now: datetime | None = None) -> str:
    """What the feed says of a photo's detection: waiting, detecting, done or failed."""
    if photo.status == Photo.Status.DETECTED:
        return "done"
    if photo.status == Photo.Status.FAILED:
        return "failed"
    now = now or timezone.now()
    claimed = photo.detection_claimed_at
    if claimed is not None and claimed >= now - timedelta(seconds=settings.IDOLSITE_DETECT_CLAIM_TIMEOUT):
        return "detecting"
    return "waiting"


def _unlabeled_faces() -> Exists:
    has_label = Exists(FaceLabel.objects.filter(face=OuterRef("pk")))
    return Exists(Face.objects.filter(photo=OuterRef("pk"), excluded=False).filter(~has_label))


def feed_queryset(filters: FeedFilters, now: datetime | None = None) -> QuerySet[Photo]:
    """The photos the filters select, newest first (ids grow with time), faces not yet fetched."""
    now = now or timezone.now()
    photos = Photo.objects.all()
    if filters.source is not None:
        photos = photos.filter(source_id=filters.source)
    if filters.state == "waiting":
        photos = photos.filter(status=Photo.Status.NEW).exclude(_live_claim(now))
    elif filters.state == "detecting":
        photos = photos.filter(_live_claim(now), status=Photo.Status.NEW)
    elif filters.state == "done":
        photos = photos.filter(status=Photo.Status.DETECTED)
    elif filters.state == "failed":
        photos = photos.filter(status=Photo.Status.FAILED)
    if filters.unlabeled:
        photos = photos.filter(_unlabeled_faces())
    return photos.order_by("-id")


def with_faces(photos: QuerySet[Photo]) -> QuerySet[Photo]:
    """Each photo with its source, its faces left to right and their labels' idols: three
    queries for any number of photos."""
    labels = FaceLabel.objects.select_related("idol").order_by("id")
    faces = Face.objects.order_by("x", "id").prefetch_related(Prefetch("labels", queryset=labels))
    return photos.select_related("source").prefetch_related(Prefetch("faces", queryset=faces))


def parse_cursor(cursor: str | None) -> int | None:
    """The id after which a page starts; ValueError for anything but an id."""
    if not cursor:
        return None
    pk = int(cursor)
    if not 0 < pk <= MAX_ID:
        raise ValueError(cursor)
    return pk


def photo_feed(*, filters: FeedFilters, cursor: str | None = None, size: int = FEED_PAGE_SIZE) -> FeedPage:
    """One page of the feed: three queries (photos with their sources, faces, labels)."""
    photos = feed_queryset(filters)
    after = parse_cursor(cursor)
    if after is not None:
        photos = photos.filter(pk__lt=after)
    rows = list(with_faces(photos)[: size + 1])
    next_cursor = str(rows[size - 1].pk) if len(rows) > size else None
    return FeedPage(photos=rows[:size], next_cursor=next_cursor)


def feed_photo(photo_id: int) -> Photo:
    """One photo as the feed shows it (its card, refreshed); Photo.DoesNotExist when it is gone."""
    return with_faces(Photo.objects.filter(pk=photo_id)).get()


def photo_states(ids: Iterable[int]) -> list[dict[str, object]]:
    """The detection state of each photo among ``ids`` still shown (not trashed): one query."""
    now = timezone.now()
    rows = Photo.objects.filter(pk__in=list(ids)[:MAX_STATUS_IDS]).only("id", "status", "error", "detection_claimed_at")
    return [
        {
            "id": photo.pk,
            "state": photo_state(photo, now),
            "error": photo.error if photo.status == Photo.Status.FAILED else "",
        }
        for photo in rows.order_by("-id")
    ]
