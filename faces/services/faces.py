"""Faces: one added to a photo (by a detection or drawn by hand)."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext

from core.errors import Conflict, DomainError
from faces.images import crop_square, decode_image
from faces.models import Face, Photo
from faces.services.embeddings import embedding_enqueue_on_commit
from faces.services.files import FileTracker, atomic_with_files
from faces.signals import faces_detected

log = logging.getLogger(__name__)


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
    transaction can remove it again on failure. Its embedding is queued on commit."""
    x, y, w, h = (int(v) for v in box)
    if w <= 0 or h <= 0:
        raise DomainError(gettext("face box %(box)s has no area") % {"box": box})
    if x < 0 or y < 0 or x + w > photo.width or y + h > photo.height:
        raise DomainError(
            gettext("face box %(box)s is outside the photo (%(width)sx%(height)s)")
            % {"box": list(box), "width": photo.width, "height": photo.height}
        )
    if not 0.0 <= score <= 1.0:
        raise DomainError(gettext("face score %(score)s is not between 0 and 1") % {"score": score})
    face = Face(photo=photo, x=x, y=y, w=w, h=h, detector=detector, score=score, landmarks=landmarks or {}, angle=angle)
    face.crop.name = tracker.save(f"crops/{photo.sha256[:2]}/{photo.sha256[:16]}_{x}_{y}_{w}_{h}.jpg", crop_jpeg)
    face.save()
    # Every way a face comes in (detection, drawn by hand, an imported crop) passes here.
    embedding_enqueue_on_commit(face_id=face.pk)
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
        raise DomainError(
            gettext("a box is four whole numbers x, y, w, h, not %(box)r") % {"box": box}, code="invalid", field="box"
        ) from None
    if w < MIN_MANUAL_FACE_SIDE or h < MIN_MANUAL_FACE_SIDE:
        raise DomainError(
            gettext("the box is %(w)sx%(h)s pixels; a face needs at least %(min)sx%(min)s")
            % {"w": w, "h": h, "min": MIN_MANUAL_FACE_SIDE},
            code="invalid",
            field="box",
        )
    photo = Photo.all_objects.get(pk=photo.pk)
    if photo.is_trashed:
        raise Conflict(gettext("photo %(id)s is in the trash") % {"id": photo.pk}, code="photo_trashed")
    if x < 0 or y < 0 or x + w > photo.width or y + h > photo.height:
        raise DomainError(
            gettext("the box %(box)s leaves the photo (%(width)sx%(height)s)")
            % {"box": [x, y, w, h], "width": photo.width, "height": photo.height},
            code="invalid",
            field="box",
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
