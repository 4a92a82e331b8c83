"""Reads for the duplicate rules of ``faces.services.photo_intake``: a perceptual-hash index of
stored and trashed photos."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from faces.models import Photo, PhotoTombstone

# Two pictures whose width/height ratios differ more than this are not the same picture, however
# close their hashes (a crop of a photo is another photo).
SHAPE_TOLERANCE = 0.02


class PhashIndex:
    """Perceptual hashes of stored (and trashed) photos for near-duplicate search.

    Loaded once per crawl run or import (one per upload); a vectorised XOR and popcount over all
    hashes is fast enough for millions of photos, unlike a query per candidate."""

    def __init__(self) -> None:
        import numpy as np

        self._np = np
        rows = list(Photo.all_objects.values_list("phash", "id", "width", "height"))
        tomb = list(PhotoTombstone.objects.values_list("phash", flat=True))
        self.hashes = np.array([_signed(int(h, 16)) for h, *_ in rows], dtype=np.int64)
        self.photos = [(pid, w, h) for _, pid, w, h in rows]
        self.tombstones = np.array([_signed(int(h, 16)) for h in tomb if h], dtype=np.int64)

    def _distances(self, hashes: Any, phash: str) -> Any:
        np = self._np
        if hashes.size == 0:
            return np.array([], dtype=np.int64)
        xor = (hashes ^ np.int64(_signed(int(phash, 16)))).view(np.uint64)
        return np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)

    def near_photo(self, phash: str, width: int, height: int) -> int | None:
        """The id of a stored photo (trashed ones too) of the same shape within
        ``IDOLSITE_PHASH_MAX_DISTANCE`` bits, or None."""
        distances = self._distances(self.hashes, phash)
        limit = settings.IDOLSITE_PHASH_MAX_DISTANCE
        for index in self._np.flatnonzero(distances <= limit)[:20]:
            photo_id, w, h = self.photos[index]
            if abs(w / h - width / height) <= SHAPE_TOLERANCE * (width / height):
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
