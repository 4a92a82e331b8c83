"""Detection of a photo's faces: queueing, the claim a worker holds, the sweep of stale claims,
and saving (or failing) a detection."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext
from django_q.tasks import async_task

from core.errors import Conflict, DomainError
from faces import backlog
from faces.models import Face, Photo
from faces.services.faces import MANUAL_DETECTOR, face_create
from faces.services.files import atomic_with_files, delete_files
from faces.signals import faces_detected, faces_redetected, faces_to_keep

if TYPE_CHECKING:
    from faces.detection import Analysis

# A new face whose box overlaps an old one at least this much succeeds it (see faces_redetected).
REDETECT_IOU = 0.5
# A detected face overlapping a hand-drawn one at least this much is the same face: a box drawn
# by hand is usually looser than the detector's, hence a lower bar than REDETECT_IOU.
HAND_DRAWN_IOU = 0.3

log = logging.getLogger(__name__)


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


def photo_detection_requeue_lost(*, now: datetime | None = None) -> int:
    """Queue again the photos waiting for detection that no task will take: a worker killed (or
    a host lost) with tasks it had taken from the broker but not started leaves their photos
    waiting, unclaimed, for ever. Only when the default queue is empty (a long queue still holds
    them) and for photos untouched for IDOLSITE_DETECT_CLAIM_TIMEOUT; a photo queued twice is
    detected once (the claim), and it waits as long again before another try."""
    if not settings.IDOLSITE_AUTO_DETECT:
        return 0
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.IDOLSITE_DETECT_CLAIM_TIMEOUT)
    lost = Photo.objects.filter(status=Photo.Status.NEW, detection_claim__isnull=True, updated_at__lt=cutoff)
    ids = list(lost.order_by("id").values_list("id", flat=True)[: backlog.LOST_LIMIT])
    if not ids or not backlog.default_queue_empty():
        return 0
    Photo.objects.filter(pk__in=ids, detection_claim__isnull=True).update(updated_at=now)
    for photo_id in ids:
        transaction.on_commit(lambda pk=photo_id: enqueue_detection(photo_id=pk))
    log.warning("photos waiting for detection with no task, queued again: %s", len(ids))
    return len(ids)


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
    - old faces without a successor are deleted, except those a receiver of ``faces_to_keep``
      holds on to (labeling: labeled faces) and those excluded by a person: they stay, so no
      label or exclusion is ever lost.

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
        unmatched = [face for face in old if face.pk not in succeeded]
        held: set[int] = set()
        for _, pks in faces_to_keep.send(sender=Photo, photo=photo, faces=unmatched):
            held.update(pks or ())
        excluded = {face.pk for face in unmatched if face.excluded} - held
        kept = held | excluded
        gone = [face for face in old if face.pk not in kept]
        Face.objects.filter(pk__in=[face.pk for face in gone]).delete()
        info.update(
            replaced=len(pairs),
            removed=len(gone),
            kept_labeled=len(held),
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
        transaction.on_commit(lambda: delete_files(names))
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


def photo_detection_retry(*, photo: Photo) -> Photo:
    """Queue a failed photo for detection again: it waits as a new photo (its error cleared,
    its interrupted attempts forgotten) and the detection task runs once this commits. Faces it
    kept from an earlier detection stay until the new one replaces them."""
    with transaction.atomic():
        photo = Photo.all_objects.select_for_update().get(pk=photo.pk)
        if photo.is_trashed:
            raise Conflict(gettext("photo %(id)s is in the trash") % {"id": photo.pk}, code="trashed")
        if photo.status != Photo.Status.FAILED:
            raise Conflict(
                gettext("photo %(id)s did not fail; there is nothing to retry") % {"id": photo.pk}, code="not_failed"
            )
        Photo.all_objects.filter(pk=photo.pk).update(
            status=Photo.Status.NEW, error="", detection_attempts=None, updated_at=timezone.now()
        )
        transaction.on_commit(lambda: enqueue_detection(photo_id=photo.pk))
    photo.refresh_from_db()
    return photo
