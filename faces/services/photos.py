"""Photos: the way in (intake and its duplicate rules), the trash and the purge."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from core.errors import Conflict, DomainError, DuplicatePhoto, TrashedBefore
from faces.dedupe import PhashIndex
from faces.images import decode_image, dhash_hex, make_thumbnail, sha256_hex
from faces.models import Photo, PhotoSighting, PhotoTombstone, Source
from faces.services.detection import enqueue_detection
from faces.services.files import FileTracker, atomic_with_files, delete_files


@dataclass(frozen=True)
class Intake:
    """What became of a photo offered to ``photo_intake``."""

    outcome: Literal["new", "duplicate", "trashed"]
    photo: Photo | None = None  # the new photo, or the stored one it duplicates
    how: str = ""  # what matched a stored photo or a tombstone: item, url, sha256 or phash
    tombstone: PhotoTombstone | None = None

    def error(self) -> DomainError:
        """The refusal a caller that wanted a new photo raises (the API answers 409 with it)."""
        if self.outcome == "trashed":
            if self.tombstone is None:
                return TrashedBefore(gettext("this photo (or a copy of it) was trashed and is not imported again"))
            return TrashedBefore(
                gettext("this photo (or a copy of it) was trashed on %(date)s and is not imported again")
                % {"date": date_format(timezone.localtime(self.tombstone.trashed_at))}
            )
        assert self.photo is not None
        if self.how == "phash":
            message = gettext("a copy of this photo is already stored as photo %(id)s")
        else:
            message = gettext("this photo is already stored as photo %(id)s")
        return DuplicatePhoto(message % {"id": self.photo.pk}, existing_id=self.photo.pk)


def _tombstone(**filters: Any) -> PhotoTombstone | None:
    return PhotoTombstone.objects.filter(**filters).order_by("id").first()


def photo_sighting_record(
    *, photo_id: int, how: str, source: Source | None = None, source_item_id: str = "", source_url: str = ""
) -> None:
    """Remember that a stored photo was offered again (a repost, a re-encoded copy, an upload of
    a photo already there). An item of a source is recorded once."""
    fields = {"photo_id": photo_id, "source_url": source_url[:2000] if "://" in source_url else "", "how": how}
    if source is None or not source_item_id:
        PhotoSighting.objects.create(source=source, source_item_id=source_item_id[:255], **fields)
        return
    try:
        with transaction.atomic():
            PhotoSighting.objects.get_or_create(source=source, source_item_id=source_item_id[:255], defaults=fields)
    except IntegrityError:
        pass  # another worker recorded it a moment ago


def photo_known(*, source: Source | None = None, source_item_id: str = "", source_url: str = "") -> Intake | None:
    """The duplicate rules that need no content, checked before a crawler downloads anything:
    the same item of the same source (seen before: nothing new is recorded); a tombstone of the
    URL; and, for a crawled item (``source`` given: its URL is the image's), a stored photo of
    the same URL, recorded as a sighting. None when the content must decide."""
    if source is not None and source_item_id:
        same = Photo.all_objects.filter(source=source, source_item_id=source_item_id).first()
        if same is None:
            seen = PhotoSighting.objects.filter(source=source, source_item_id=source_item_id).first()
            same = seen.photo if seen else None
        if same is not None:
            return Intake("duplicate", photo=same, how="item")
    if "://" in source_url:
        tombstone = _tombstone(source_url=source_url)
        if tombstone is not None:
            return Intake("trashed", how="url", tombstone=tombstone)
        if source is not None:
            same = Photo.all_objects.filter(source_url=source_url).order_by("id").first()
            if same is not None:
                photo_sighting_record(
                    photo_id=same.pk, how="url", source=source, source_item_id=source_item_id, source_url=source_url
                )
                return Intake("duplicate", photo=same, how="url")
    return None


def photo_intake(
    *,
    data: bytes,
    original_name: str = "",
    source: Source | None = None,
    source_url: str = "",
    source_item_id: str = "",
    author: str = "",
    caption: str = "",
    posted_at: datetime | None = None,
    status: str = Photo.Status.NEW,
    detector: str = "",
    tracker: FileTracker | None = None,
    index: PhashIndex | None = None,
    near_copies: bool = True,
) -> Intake:
    """Every way a photo comes in (upload, ``import_photos``, ``import_faces``, crawl) goes
    through here, so one set of duplicate rules holds for all, in this order:

    1. ``photo_known``: the same item of a source, a trashed URL, a crawled item's URL;
    2. the same bytes (sha256): trashed once -> ``trashed``; stored -> ``duplicate``;
    3. a near-identical picture (perceptual hash within ``IDOLSITE_PHASH_MAX_DISTANCE`` bits: a
       re-encoded or resized copy): of a trashed photo -> ``trashed``; of a stored photo of the
       same shape -> ``duplicate``;
    4. otherwise a new photo is stored (``new``) and queued for detection.

    A duplicate is recorded as a ``PhotoSighting`` of the stored photo instead of a second
    photo; nothing is stored for a trashed one. Raises InvalidImage (not a usable image). Callers
    that take many photos pass one ``index`` (faces.dedupe.PhashIndex), kept up to date here;
    a caller that adds more to the same transaction passes the ``tracker`` of its
    ``atomic_with_files``. ``near_copies=False`` skips rule 3 for pictures that look alike by
    construction (aligned face crops: distinct faces of one person fall within a few bits)."""
    known = photo_known(source=source, source_item_id=source_item_id, source_url=source_url)
    if known is not None:
        return known
    decoded = decode_image(data)
    sha = sha256_hex(data)
    tombstone = _tombstone(sha256=sha)
    if tombstone is not None:
        return Intake("trashed", how="sha256", tombstone=tombstone)
    sighting = {"source": source, "source_item_id": source_item_id, "source_url": source_url}
    same = Photo.all_objects.filter(sha256=sha).first()
    if same is not None:
        photo_sighting_record(photo_id=same.pk, how="sha256", **sighting)
        return Intake("duplicate", photo=same, how="sha256")
    phash = dhash_hex(decoded.image)
    if near_copies:
        index = index if index is not None else PhashIndex()
        if index.near_tombstone(phash):
            return Intake("trashed", how="phash")
        near = index.near_photo(phash, decoded.width, decoded.height)
        if near is not None:
            photo_sighting_record(photo_id=near, how="phash", **sighting)
            return Intake("duplicate", photo=Photo.all_objects.get(pk=near), how="phash")

    photo = Photo(
        sha256=sha,
        phash=phash,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        file_size=len(data),
        original_name=original_name[:255],
        source=source,
        source_url=source_url,
        source_item_id=source_item_id,
        author=author[:255],
        caption=caption,
        posted_at=posted_at,
        status=status,
        detector=detector,
    )
    try:
        with contextlib.nullcontext(tracker) if tracker else atomic_with_files() as files, transaction.atomic():
            photo.image.name = files.save(f"photos/{sha[:2]}/{sha}.{decoded.extension}", data)
            photo.thumbnail.name = files.save(f"thumbs/{sha[:2]}/{sha}.jpg", make_thumbnail(decoded.image))
            photo.save()
            if photo.status == Photo.Status.NEW and settings.IDOLSITE_AUTO_DETECT:
                transaction.on_commit(lambda: enqueue_detection(photo_id=photo.pk))
    except IntegrityError:
        same = Photo.all_objects.filter(sha256=sha).first()
        if same is None and source is not None and source_item_id:
            same = Photo.all_objects.filter(source=source, source_item_id=source_item_id).first()
        if same is None:
            raise
        # Another worker stored it a moment ago.
        photo_sighting_record(photo_id=same.pk, how="sha256", **sighting)
        return Intake("duplicate", photo=same, how="sha256")
    if index is not None:
        index.add(photo)
    return Intake("new", photo=photo)


def photo_create(**kwargs: Any) -> Photo:
    """Store a new photo from untrusted bytes (``photo_intake``'s arguments).

    Raises InvalidImage (not a usable image), DuplicatePhoto (stored already: same item, bytes or
    picture; the sighting of it is recorded first) or TrashedBefore (trashed once: its tombstone
    keeps it and its copies out). Writes the image and its thumbnail; on any failure neither the
    files nor the row remain."""
    intake = photo_intake(**kwargs)
    if intake.outcome != "new":
        raise intake.error()
    assert intake.photo is not None
    return intake.photo


@transaction.atomic
def photo_trash(*, photo: Photo, user: AbstractBaseUser | None = None) -> Photo:
    """Move a photo to the trash. It leaves a tombstone (hash and URL), so no crawl or import
    brings it back; its faces leave the grid and training. ``photo_restore`` undoes it."""
    photo = Photo.all_objects.select_for_update().get(pk=photo.pk)
    if photo.is_trashed:
        raise Conflict(gettext("photo %(id)s is already in the trash") % {"id": photo.pk}, code="already_trashed")
    now = timezone.now()
    photo.trashed_at = now
    photo.trashed_by = user if user is not None and user.is_authenticated else None
    photo.save(update_fields=["trashed_at", "trashed_by", "updated_at"])
    PhotoTombstone.objects.update_or_create(
        sha256=photo.sha256,
        defaults={
            "phash": photo.phash,
            "source_url": photo.source_url,
            "source": photo.source,
            "source_item_id": photo.source_item_id,
            "photo": photo,
            "trashed_at": now,
        },
    )
    return photo


@transaction.atomic
def photo_restore(*, photo: Photo, user: AbstractBaseUser | None = None) -> Photo:
    """Take a photo out of the trash; its tombstone goes away."""
    photo = Photo.all_objects.select_for_update().get(pk=photo.pk)
    if not photo.is_trashed:
        raise Conflict(gettext("photo %(id)s is not in the trash") % {"id": photo.pk}, code="not_trashed")
    photo.trashed_at = None
    photo.trashed_by = None
    photo.save(update_fields=["trashed_at", "trashed_by", "updated_at"])
    PhotoTombstone.objects.filter(sha256=photo.sha256).delete()
    return photo


def photo_purge(*, photo: Photo) -> None:
    """Erase a trashed photo for good: its files and rows go, its tombstone stays.

    The only hard delete of photos (``manage.py empty_trash``)."""
    photo = Photo.all_objects.get(pk=photo.pk)
    if not photo.is_trashed:
        raise Conflict(
            gettext("photo %(id)s is not in the trash; trash it first") % {"id": photo.pk}, code="not_trashed"
        )
    names = [photo.image.name, photo.thumbnail.name, *(f.crop.name for f in photo.faces.all())]
    with transaction.atomic():
        PhotoTombstone.objects.filter(sha256=photo.sha256).update(photo=None)
        photo.delete()
    delete_files([name for name in names if name])
