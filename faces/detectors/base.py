"""What every detector backend offers: faces found in one RGB array, in that array's pixels."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from core.errors import Unavailable

if TYPE_CHECKING:
    import numpy as np

# Landmark names, in the face's own upright frame: "left" is the side on the left of the
# picture (the person's right), as the mtcnn package names them.
LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class DetectorUnavailable(Unavailable):
    """The backend cannot run here (a model file is missing, a library is absent): 503."""

    code = "detector_unavailable"


@dataclass(frozen=True)
class RawFace:
    """One face as a backend reports it, in the pixels of the array it was given."""

    box: tuple[float, float, float, float]  # x, y, w, h
    score: float
    landmarks: dict[str, tuple[float, float]] = field(default_factory=dict)


class Detector:
    """A face detector backend: one module under ``faces.detectors``, registered in DETECTORS.

    Subclasses load their models in ``__init__`` (importing TensorFlow or OpenCV there, never at
    module level) and answer ``detect``. One instance serves a whole process
    (``faces.detectors.get_detector``); ``detect`` holds a lock, since the web server may call
    from several threads and the libraries keep state per call.
    """

    name: ClassVar[str]
    # Rotated copies this backend needs to find faces tilted up to ~45°, unless
    # IDOLSITE_DETECT_ANGLES says otherwise.
    default_angles: ClassVar[tuple[float, ...]] = (0.0,)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @classmethod
    def configuration_errors(cls) -> list[str]:
        """What keeps this backend from starting with the current settings (system checks)."""
        return []

    def detect(self, rgb: np.ndarray) -> list[RawFace]:
        with self._lock:
            return self._detect(rgb)

    def _detect(self, rgb: np.ndarray) -> list[RawFace]:
        raise NotImplementedError

    def bare(self, rgb: np.ndarray) -> Any:
        """The library's own call with our parameters, for the benchmark's overhead ratio."""
        raise NotImplementedError
