"""What every face embedder offers: one vector per face crop, from a model file whose hash
names the vectors it made (vectors of two models are never compared)."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from core.errors import Unavailable

if TYPE_CHECKING:
    import numpy as np

# Detectors whose crop is the face itself, without the detection margin: an imported crop and a
# box drawn by hand. The face is taken as the crop's middle 80% (how the shared crops were measured).
WHOLE_CROP_DETECTORS = frozenset({"import", "manual"})
WHOLE_CROP_INSET = 0.1


class EmbedderUnavailable(Unavailable):
    """The embedder cannot run here (a model file is missing or corrupt, a library is absent): 503."""

    code = "embedder_unavailable"


@dataclass(frozen=True)
class FaceImage:
    """One stored crop to embed: the RGB pixels and the face's box inside them (x, y, w, h)."""

    rgb: np.ndarray
    box: tuple[float, float, float, float]


def face_box_in_crop(*, side: int, detector: str, margin: float) -> tuple[float, float, float, float]:
    """Where the face is in its square crop of ``side`` pixels: detected crops carry a margin of
    ``margin`` times the face on each side (faces.detection.aligned_crop), so the face is their
    middle 1/(1+2*margin); imported and hand-drawn crops are the face."""
    inset = side * (WHOLE_CROP_INSET if detector in WHOLE_CROP_DETECTORS else margin / (1 + 2 * margin))
    return (inset, inset, side - 2 * inset, side - 2 * inset)


_hashes: dict[tuple[str, int, int], str] = {}
_hashing = threading.Lock()


def file_hash(path: Path) -> str:
    """The first 16 hex digits of the file's sha256, computed once a process (per size and
    modification time, so a replaced file is hashed again)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _hashing:
        if key not in _hashes:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            _hashes[key] = digest.hexdigest()[:16]
        return _hashes[key]


class Embedder:
    """A face embedder backend: one module under ``faces.embedders``, registered in EMBEDDERS.

    Subclasses import their library and load their model in ``__init__`` (never at module
    level: the web server and the task cluster's parent must stay light) and answer ``_embed``
    for a batch. One instance serves a whole process (``faces.embedders.get_embedder``);
    ``embed`` holds a lock, since the libraries keep state per call.
    """

    name: ClassVar[str]
    dimension: ClassVar[int]

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @classmethod
    def model_path(cls) -> Path:
        """The model file the current settings name."""
        raise NotImplementedError

    @classmethod
    def model_hash(cls) -> str:
        """Names the vectors this model makes (stored with each one)."""
        path = cls.model_path()
        try:
            return file_hash(path)
        except OSError as exc:
            raise EmbedderUnavailable(f"the model file {path} cannot be read: {exc}") from exc

    @classmethod
    def configuration_errors(cls) -> list[str]:
        """What keeps this embedder from starting with the current settings (system checks),
        found without loading any library."""
        return []

    def embed(self, faces: list[FaceImage]) -> list[np.ndarray]:
        """One float32 vector of ``dimension`` values per face, in order."""
        if not faces:
            return []
        with self._lock:
            return self._embed(faces)

    def _embed(self, faces: list[FaceImage]) -> list[np.ndarray]:
        raise NotImplementedError
