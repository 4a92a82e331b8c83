"""YuNet (OpenCV's FaceDetectorYN) from the ONNX file named by IDOLSITE_YUNET_MODEL.

Fast and accurate with five landmarks, but its weights are a separate file: the product must
not depend on it, so this backend is chosen explicitly and says clearly when the file is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from faces.detectors.base import Detector, DetectorUnavailable, RawFace

if TYPE_CHECKING:
    import numpy as np

# YuNet's columns after the box: right eye, left eye, nose tip, right and left mouth corner,
# named from the person's side; ours are named from the picture's side (see base.LANDMARKS).
_POINTS = (("left_eye", 4), ("right_eye", 6), ("nose", 8), ("mouth_left", 10), ("mouth_right", 12))


class YuNetDetector(Detector):
    name = "yunet"

    @classmethod
    def configuration_errors(cls) -> list[str]:
        path = Path(settings.IDOLSITE_YUNET_MODEL)
        if not path.is_file():
            return [
                f"the YuNet model {path} does not exist: set IDOLSITE_YUNET_MODEL to the ONNX file "
                "(face_detection_yunet_*.onnx from OpenCV Zoo) or choose another IDOLSITE_DETECTOR"
            ]
        return []

    def __init__(self) -> None:
        super().__init__()
        errors = self.configuration_errors()
        if errors:
            raise DetectorUnavailable(errors[0])
        import cv2

        self._cv2 = cv2
        self._net = cv2.FaceDetectorYN.create(
            str(settings.IDOLSITE_YUNET_MODEL), "", (320, 320), float(settings.IDOLSITE_YUNET_SCORE), 0.3, 5000
        )

    def bare(self, rgb: np.ndarray) -> Any:
        bgr = self._cv2.cvtColor(rgb, self._cv2.COLOR_RGB2BGR)
        self._net.setInputSize((bgr.shape[1], bgr.shape[0]))
        return self._net.detect(bgr)[1]

    def _detect(self, rgb: np.ndarray) -> list[RawFace]:
        rows = self.bare(rgb)
        if rows is None:
            return []
        height, width = rgb.shape[:2]
        faces = []
        for row in rows:
            x, y, w, h = (float(v) for v in row[:4])
            # YuNet's boxes may reach past the edges: keep the part inside the picture.
            x2, y2 = min(width, x + w), min(height, y + h)
            x, y = max(0.0, x), max(0.0, y)
            if x2 <= x or y2 <= y:
                continue
            landmarks = {name: (float(row[i]), float(row[i + 1])) for name, i in _POINTS}
            faces.append(
                RawFace(box=(x, y, x2 - x, y2 - y), score=min(1.0, max(0.0, float(row[14]))), landmarks=landmarks)
            )
        return faces
