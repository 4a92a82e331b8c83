"""Writes to photos and faces. Each is atomic: it raises a DomainError and changes nothing, or
it does all of its work. Files written for a write that fails are removed again."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext
from django_q.tasks import async_task

from core.errors import Conflict, DomainError, DuplicatePhoto, TrashedBefore
from faces.dedupe import PhashIndex
from faces.images import crop_square, decode_image, dhash_hex, make_thumbnail, sha256_hex
from faces.models import Face, Photo, PhotoSighting, PhotoTombstone, Source
from faces.signals import faces_detected, faces_redetected

if TYPE_CHECKING:
    from faces.detection import Analysis

# A new face whose box overlaps an old one at least this much succeeds it (takes its labels).
REDETECT_IOU = 0.5
# A detected face overlapping a hand-drawn one at least this much is the same face: a box drawn
# by hand is usually looser than the detector's, hence a lower bar than REDETECT_IOU.
HAND_DRAWN_IOU = 0.3

log = logging.getLogger(__name__)


@dataclass
class FileTracker:
    """Remembers the files a write created, to delete them if the write fails."""

    names: list[str] = field(default_factory=list)

    def save(self, name: str, content: bytes) -> str:
        stored = default_storage.save(name, ContentFile(content))
        self.names.append(stored)
        return stored

    def discard(self) -> None:
        for name in self.names:
            with contextlib.suppress(OSError):
                default_storage.delete(name)
        self.names.clear()


@contextlib.contextmanager
def atomic_with_files() -> Iterator[FileTracker]:
    """A transaction whose new files are deleted again if it fails.

    Use it as the outermost transaction of a write: files cannot follow a rollback of an
    enclosing transaction that happens after this block has finished.
    """
    tracker = FileTracker()
    try:
        with transaction.atomic():
            yield tracker
    except BaseException:
        tracker.discard()
        raise


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
            when = f" on {self.tombstone.trashed_at:%Y-%m-%d}" if self.tombstone else ""
            return TrashedBefore(
                gettext("this photo (or a copy of it) was trashed%(when)s and is not imported again") % {"when": when}
            )
        assert self.photo is not None
        what = gettext("a copy of this photo") if self.how == "phash" else gettext("this photo")
        return DuplicatePhoto(
            gettext("%(what)s is already stored as photo %(id)s") % {"what": what, "id": self.photo.pk},
            existing_id=self.photo.pk,
        )


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


def face_create(
    *,
    photo: Photo,
    box: tuple[int, int, int, int] | list[int],
    crop_jpeg: bytes,
    detector: str,
    score: float,
    landmarks: dict[str, Any] | None = None,
    angle: float = 0.0,
    tracker: FileTracker,
) -> Face:
    """Add one face to a photo. The crop file goes through ``tracker`` so the caller's
    transaction can remove it again on failure."""
    x, y, w, h = (int(v) for v in box)
    if w <= 0 or h <= 0:
        raise DomainError(f"face box {box} has no area")
    if x < 0 or y < 0 or x + w > photo.width or y + h > photo.height:
        raise DomainError(f"face box {list(box)} is outside the photo ({photo.width}x{photo.height})")
    if not 0.0 <= score <= 1.0:
        raise DomainError(f"face score {score} is not between 0 and 1")
    face = Face(photo=photo, x=x, y=y, w=w, h=h, detector=detector, score=score, landmarks=landmarks or {}, angle=angle)
    face.crop.name = tracker.save(f"crops/{photo.sha256[:2]}/{photo.sha256[:16]}_{x}_{y}_{w}_{h}.jpg", crop_jpeg)
    face.save()
    return face


MANUAL_DETECTOR = "manual"
MIN_MANUAL_FACE_SIDE = 8


def face_add_manual(
    *, photo: Photo, box: tuple[int, int, int, int] | list[int], user: AbstractBaseUser | None = None
) -> Face:
    """A face the detector missed, boxed by hand on the photo page: it becomes a Face
    (detector ``manual``, score 1.0) with its crop cut from the EXIF-oriented photo.

    Raises DomainError for a box that is not four whole numbers, is smaller than
    ``MIN_MANUAL_FACE_SIDE`` pixels or leaves the photo, and for a photo in the trash; then
    neither a row nor a file remains."""
    try:
        x, y, w, h = (int(v) for v in box)
    except (TypeError, ValueError):
        raise DomainError(f"a box is four whole numbers x, y, w, h, not {box!r}", code="invalid", field="box") from None
    if w < MIN_MANUAL_FACE_SIDE or h < MIN_MANUAL_FACE_SIDE:
        raise DomainError(
            f"the box is {w}x{h} pixels; a face needs at least {MIN_MANUAL_FACE_SIDE}x{MIN_MANUAL_FACE_SIDE}",
            code="invalid",
            field="box",
        )
    photo = Photo.all_objects.get(pk=photo.pk)
    if photo.is_trashed:
        raise Conflict(f"photo {photo.pk} is in the trash", code="photo_trashed")
    if x < 0 or y < 0 or x + w > photo.width or y + h > photo.height:
        raise DomainError(
            f"the box {[x, y, w, h]} leaves the photo ({photo.width}x{photo.height})", code="invalid", field="box"
        )
    with photo.image.open("rb") as handle:
        decoded = decode_image(handle.read())
    crop = crop_square(decoded.image, (x, y, w, h))
    with atomic_with_files() as files:
        face = face_create(
            photo=photo, box=(x, y, w, h), crop_jpeg=crop, detector=MANUAL_DETECTOR, score=1.0, tracker=files
        )
        faces_detected.send(sender=Photo, photo=photo, faces=[face])  # its suggestion, on commit
    log.info("face %s drawn by hand on photo %s by %s", face.pk, photo.pk, getattr(user, "pk", None))
    return face


@transaction.atomic
def photo_trash(*, photo: Photo, user: AbstractBaseUser | None = None) -> Photo:
    """Move a photo to the trash. It leaves a tombstone (hash and URL), so no crawl or import
    brings it back; its faces leave the grid and training. ``photo_restore`` undoes it."""
    photo = Photo.all_objects.select_for_update().get(pk=photo.pk)
    if photo.is_trashed:
        raise Conflict(f"photo {photo.pk} is already in the trash", code="already_trashed")
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
        raise Conflict(f"photo {photo.pk} is not in the trash", code="not_trashed")
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
        raise Conflict(f"photo {photo.pk} is not in the trash; trash it first", code="not_trashed")
    names = [photo.image.name, photo.thumbnail.name, *(f.crop.name for f in photo.faces.all())]
    with transaction.atomic():
        PhotoTombstone.objects.filter(sha256=photo.sha256).update(photo=None)
        photo.delete()
    _delete_files([name for name in names if name])


def source_crawl_enqueue(*, source: Source) -> None:
    """Crawl a source now: ``faces.tasks.crawl_source`` is queued when the transaction commits.
    A disabled source is refused (its task would skip it)."""
    if not source.enabled:
        raise Conflict(f"source {source.pk} is disabled; enable it first", code="source_disabled")
    source_id, name = source.pk, source.name
    transaction.on_commit(lambda: async_task("faces.tasks.crawl_source", source_id, task_name=f"crawl {name}"[:100]))


# --- detection ------------------------------------------------------------------------------


def enqueue_detection(*, photo_id: int, detector: str | None = None, redetect: bool = False) -> None:
    """Queue ``faces.tasks.detect_photo`` on the default cluster (call it on commit)."""
    async_task("faces.tasks.detect_photo", photo_id, detector=detector, redetect=redetect)


def photo_detection_claim(*, photo_id: int, redetect: bool = False) -> uuid.UUID | None:
    """Take a photo for detection, or return None when it is not to be detected now.

    One conditional UPDATE: it touches the row only when no live claim holds it (a claim older
    than IDOLSITE_DETECT_CLAIM_TIMEOUT belongs to a dead worker and is taken over: the retry of
    a killed task does so), the photo is not trashed, was not interrupted
    IDOLSITE_DETECT_MAX_ATTEMPTS times already and, unless ``redetect``, still waits for
    detection. So two workers never detect the same photo, and a task run twice does the work
    once. Each claim counts as an attempt until the detection ends."""
    now = timezone.now()
    token = uuid.uuid4()
    queryset = Photo.all_objects.claimable(now=now, timeout_seconds=settings.IDOLSITE_DETECT_CLAIM_TIMEOUT).filter(
        Q(detection_attempts__isnull=True) | Q(detection_attempts__lt=settings.IDOLSITE_DETECT_MAX_ATTEMPTS)
    )
    if not redetect:
        queryset = queryset.filter(status=Photo.Status.NEW)
    touched = queryset.filter(pk=photo_id).update(
        detection_claimed_at=now, detection_claim=token, detection_attempts=Coalesce(F("detection_attempts"), 0) + 1
    )
    return token if touched == 1 else None


def photo_detection_sweep() -> dict[str, int]:
    """Find photos whose detection claim is stale (its worker was killed or timed out and no
    retry took it over) and queue them again, or fail them with the reason once they were
    interrupted IDOLSITE_DETECT_MAX_ATTEMPTS times. Called by ``faces.tasks
    .sweep_detection_claims`` on the default cluster's schedule; safe to run twice and beside
    workers: each photo changes only while it still holds the stale claim that was read."""
    now = timezone.now()
    limit = settings.IDOLSITE_DETECT_MAX_ATTEMPTS
    counts = {"requeued": 0, "failed": 0, "released": 0}
    stale = Photo.all_objects.stale_claims(now=now, timeout_seconds=settings.IDOLSITE_DETECT_CLAIM_TIMEOUT)
    for photo_id, claim, claimed_at, attempts, status, trashed_at in stale.values_list(
        "id", "detection_claim", "detection_claimed_at", "detection_attempts", "status", "trashed_at"
    ):
        held = Photo.all_objects.filter(pk=photo_id, detection_claim=claim, detection_claimed_at=claimed_at)
        release = {"detection_claim": None, "detection_claimed_at": None, "updated_at": now}
        if trashed_at is not None:  # nothing to detect; the claim goes
            counts["released"] += held.update(**release)
        elif (attempts or 0) >= limit:
            error = gettext(
                "detection was interrupted %(n)s times (the worker was killed or timed out; last claimed at "
                "%(at)s); detect it again by hand once the cause is found"
            ) % {"n": attempts, "at": f"{claimed_at:%Y-%m-%d %H:%M:%S} UTC"}
            counts["failed"] += held.update(
                status=Photo.Status.FAILED, error=error, detected_at=now, detection_attempts=None, **release
            )
        elif held.update(**release):
            counts["requeued"] += 1
            redetect = status != Photo.Status.NEW
            transaction.on_commit(lambda pk=photo_id, again=redetect: enqueue_detection(photo_id=pk, redetect=again))
    if any(counts.values()):
        log.warning("stale detection claims: %s", counts)
    return counts


def _check_claim(photo: Photo, claim: uuid.UUID) -> None:
    if photo.detection_claim != claim:
        raise DomainError(
            f"photo {photo.pk}: the detection claim was taken over by another worker; nothing was saved",
            code="claim_lost",
        )


def match_faces(old: list[Face], new: list[Face], *, threshold: float = REDETECT_IOU) -> list[tuple[Face, Face]]:
    """Pairs (old, new) of faces whose boxes overlap at least ``threshold``, best overlaps first,
    each face in one pair at most."""
    from faces.detection import iou

    candidates = sorted(((iou(a.box, b.box), i, j) for i, a in enumerate(old) for j, b in enumerate(new)), reverse=True)
    used_old: set[int] = set()
    used_new: set[int] = set()
    pairs = []
    for overlap, i, j in candidates:
        if overlap < threshold:
            break
        if i in used_old or j in used_new:
            continue
        used_old.add(i)
        used_new.add(j)
        pairs.append((old[i], new[j]))
    return pairs


def photo_detection_save(*, photo: Photo, analysis: Analysis, claim: uuid.UUID) -> Photo:
    """Replace a photo's detected faces with a detection's, all at once, and release the claim.

    A machine never undoes a person's work:

    - faces drawn by hand (detector ``manual``) stay as they are, labeled or not, and a new face
      overlapping one of them (IoU >= HAND_DRAWN_IOU) is not created: the person's box wins;
    - a new face overlapping an old one (IoU >= REDETECT_IOU) succeeds it: ``faces_redetected``
      lets labeling move the old face's labels and exclusion over (and record it);
    - old faces without a successor are deleted, except those that carry labels or were
      excluded by a person: they stay, so no label or exclusion is ever lost.

    Raises DomainError (code ``claim_lost``) when another worker took the claim over."""
    from faces.detection import iou

    with atomic_with_files() as files:
        photo = Photo.all_objects.select_for_update().get(pk=photo.pk)
        _check_claim(photo, claim)
        current = list(photo.faces.order_by("id"))
        drawn = [face for face in current if face.detector == MANUAL_DETECTOR]
        old = [face for face in current if face.detector != MANUAL_DETECTOR]
        found_faces = [
            found for found in analysis.faces if all(iou(found.box, face.box) < HAND_DRAWN_IOU for face in drawn)
        ]
        new = [
            face_create(
                photo=photo,
                box=found.box,
                crop_jpeg=found.crop,
                detector=analysis.detector,
                score=found.score,
                landmarks=found.landmarks,
                angle=found.angle,
                tracker=files,
            )
            for found in found_faces
        ]
        pairs = match_faces(old, new)
        info = analysis.info
        for _, counts in faces_redetected.send(sender=Photo, photo=photo, pairs=pairs):
            for key, value in (counts or {}).items():
                info[key] = info.get(key, 0) + value
        succeeded = {o.pk for o, _ in pairs}
        unmatched = [face.pk for face in old if face.pk not in succeeded]
        # ``labels`` is labeling.FaceLabel's reverse name: faces does not import labeling.
        labeled = set(Face.objects.filter(pk__in=unmatched, labels__isnull=False).values_list("pk", flat=True))
        excluded = {face.pk for face in old if face.pk in set(unmatched) and face.excluded} - labeled
        kept = labeled | excluded
        gone = [face for face in old if face.pk not in kept]
        Face.objects.filter(pk__in=[face.pk for face in gone]).delete()
        info.update(
            replaced=len(pairs),
            removed=len(gone),
            kept_labeled=len(labeled),
            kept_excluded=len(excluded),
            kept_hand_drawn=len(drawn),
            under_hand_drawn=len(analysis.faces) - len(found_faces),
        )
        Photo.all_objects.filter(pk=photo.pk).update(
            status=Photo.Status.DETECTED,
            error="",
            detector=analysis.detector,
            detection_info=info,
            detected_at=timezone.now(),
            detection_claimed_at=None,
            detection_claim=None,
            detection_attempts=None,
            updated_at=timezone.now(),
        )
        names = [face.crop.name for face in gone if face.crop]
        transaction.on_commit(lambda: _delete_files(names))
        if new:
            faces_detected.send(sender=Photo, photo=photo, faces=new)
    photo.refresh_from_db()
    return photo


def photo_detection_fail(*, photo: Photo, error: str, claim: uuid.UUID) -> Photo:
    """Record why a photo could not be detected and release the claim; its faces stay as they
    were (none for a new photo, the previous detection's otherwise)."""
    with transaction.atomic():
        photo = Photo.all_objects.select_for_update().get(pk=photo.pk)
        _check_claim(photo, claim)
        Photo.all_objects.filter(pk=photo.pk).update(
            status=Photo.Status.FAILED,
            error=error[:2000],
            detected_at=timezone.now(),
            detection_claimed_at=None,
            detection_claim=None,
            detection_attempts=None,
            updated_at=timezone.now(),
        )
    photo.refresh_from_db()
    return photo


def _delete_files(names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(OSError):
            default_storage.delete(name)
