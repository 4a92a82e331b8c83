"""OpenCV's Haar cascades (bundled with opencv-python-headless < 5): the fast fallback.

The frontal-face cascade tolerates little tilt, so this backend searches rotated copies by
default; the eye cascade, run on the upper half of each face, gives the eye
landmarks used to level the crop. Haar gives no probability: the score is the logistic of the
last stage's weight, in [0, 1].
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from faces.detectors.base import Detector, RawFace

if TYPE_CHECKING:
    import numpy as np

FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"


class HaarDetector(Detector):
    name = "haar"
    default_angles = (-30.0, 0.0, 30.0)

    def __init__(self) -> None:
        super().__init__()
        import cv2

        self._cv2 = cv2
        self._faces = cv2.CascadeClassifier(cv2.data.haarcascades + FACE_CASCADE)
        self._eyes = cv2.CascadeClassifier(cv2.data.haarcascades + EYE_CASCADE)
        if self._faces.empty() or self._eyes.empty():
            raise RuntimeError(f"OpenCV's Haar cascades are missing from {cv2.data.haarcascades}")

    def _grey(self, rgb: np.ndarray) -> np.ndarray:
        return self._cv2.equalizeHist(self._cv2.cvtColor(rgb, self._cv2.COLOR_RGB2GRAY))

    def bare(self, rgb: np.ndarray) -> Any:
        return self._faces.detectMultiScale3(
            self._grey(rgb), scaleFactor=1.1, minNeighbors=5, minSize=(20, 20), outputRejectLevels=True
        )

    def _detect(self, rgb: np.ndarray) -> list[RawFace]:
        grey = self._grey(rgb)
        boxes, _, weights = self._faces.detectMultiScale3(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20), outputRejectLevels=True
        )
        faces = []
        for (x, y, w, h), weight in zip(boxes, weights, strict=False):
            score = 1.0 / (1.0 + math.exp(-float(weight) / 2.0))
            faces.append(
                RawFace(
                    box=(float(x), float(y), float(w), float(h)), score=score, landmarks=self._eyes_in(grey, x, y, w, h)
                )
            )
        return faces

    def _eyes_in(self, grey: np.ndarray, x: int, y: int, w: int, h: int) -> dict[str, tuple[float, float]]:
        """The two eyes in the upper half of the face, or nothing when the cascade is unsure."""
        top = grey[y : y + h // 2 + h // 10, x : x + w]
        found = self._eyes.detectMultiScale(top, scaleFactor=1.1, minNeighbors=4, minSize=(max(6, w // 8),) * 2)
        if len(found) < 2:
            return {}
        # The two largest, one each side of the face's middle.
        pair = sorted(sorted(found, key=lambda e: -e[2] * e[3])[:2], key=lambda e: e[0])
        (lx, ly, lw, lh), (rx, ry, rw, rh) = pair
        left = (x + lx + lw / 2, y + ly + lh / 2)
        right = (x + rx + rw / 2, y + ry + rh / 2)
        if not left[0] < x + w / 2 < right[0]:
            return {}
        return {"left_eye": (float(left[0]), float(left[1])), "right_eye": (float(right[0]), float(right[1]))}
