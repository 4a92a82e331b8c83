"""Ready face crops imported with their idol (``manage.py import_faces``)."""

from __future__ import annotations

from django.utils import timezone

from faces.models import Photo
from labeling.models import FaceLabel, How, Idol
from labeling.services._common import User
from labeling.services.labels import face_label


def face_import(*, data: bytes, idol: Idol, original_name: str = "", user: User = None) -> FaceLabel:
    """A ready face crop becomes a photo with one face covering it, labeled with ``idol``
    (how: import). All of it or nothing: rows and files. The photo goes through the duplicate
    rules of every way in (``faces.services.photo_intake``) but the perceptual hash (aligned crops
    of one person are alike by construction): a copy of a stored photo raises DuplicatePhoto (its
    sighting recorded), one of a trashed photo TrashedBefore."""
    from faces.images import decode_image, square_crop
    from faces.services import atomic_with_files, face_create, photo_intake

    decoded = decode_image(data)
    with atomic_with_files() as files:
        intake = photo_intake(
            data=data,
            original_name=original_name,
            status=Photo.Status.DETECTED,
            detector="import",
            tracker=files,
            near_copies=False,
        )
        if intake.outcome == "new":
            photo = intake.photo
            Photo.all_objects.filter(pk=photo.pk).update(detected_at=timezone.now())
            face = face_create(
                photo=photo,
                box=(0, 0, photo.width, photo.height),
                crop_jpeg=square_crop(decoded.image),
                detector="import",
                score=1.0,
                tracker=files,
            )
            return face_label(face=face, idol=idol, user=user, how=How.IMPORT)
    raise intake.error()  # after the block: the sighting of a duplicate stays
