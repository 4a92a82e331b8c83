"""The numbered pictures a bot sends as links (LINE fetches an image from an https URL): stored
under a random name, served to anyone who has the name, removed after KEEP.

Only these files are public: the view serves names of this shape from this folder alone.
"""

from __future__ import annotations

import io
import logging
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

log = logging.getLogger(__name__)

FOLDER = "bots/answers"
# Long enough for the asker to open it in the chat; LINE keeps its own copy once delivered.
KEEP = timedelta(days=1)
# LINE's preview image: at most 1 MB; a small copy loads fast in the chat.
PREVIEW_SIDE = 480
NAME = re.compile(r"^[A-Za-z0-9_-]{43}(-preview)?$")


def picture_store(image: bytes) -> tuple[str, str] | None:
    """Store a numbered picture and a preview: their public URLs, or None when the site has no
    https address (``IDOLSITE_PUBLIC_URL``) for LINE to fetch them from. Pictures older than KEEP
    go at the same time."""
    base = settings.IDOLSITE_PUBLIC_URL
    if not base.startswith("https://"):
        return None
    pictures_purge()
    token = secrets.token_urlsafe(32)  # 43 characters: the name is the only key
    default_storage.save(f"{FOLDER}/{token}.jpg", ContentFile(image))
    default_storage.save(f"{FOLDER}/{token}-preview.jpg", ContentFile(_preview(image)))
    return (
        base + reverse("bots:picture", kwargs={"name": token}),
        base + reverse("bots:picture", kwargs={"name": f"{token}-preview"}),
    )


def _preview(image: bytes) -> bytes:
    from PIL import Image

    picture = Image.open(io.BytesIO(image))
    picture.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    out = io.BytesIO()
    picture.convert("RGB").save(out, format="JPEG", quality=80)
    return out.getvalue()


def picture_path(name: str) -> str | None:
    """The storage name of a public picture still kept, or None."""
    if not NAME.match(name):
        return None
    stored = f"{FOLDER}/{name}.jpg"
    try:
        if timezone.now() - default_storage.get_modified_time(stored) > KEEP:
            return None
    except (OSError, NotImplementedError):
        return None
    return stored


def pictures_purge() -> int:
    """Remove the pictures older than KEEP; how many went."""
    try:
        _, files = default_storage.listdir(FOLDER)
    except (OSError, NotImplementedError):
        return 0
    limit, gone = timezone.now() - KEEP, 0
    for name in files:
        stored = f"{FOLDER}/{name}"
        try:
            if default_storage.get_modified_time(stored) < limit:
                default_storage.delete(stored)
                gone += 1
        except OSError as exc:  # another worker removed it first
            log.debug("picture %s not purged: %s", name, exc)
    return gone
