"""MTCNN (the ``mtcnn`` package, TensorFlow): boxes and five landmarks. The default backend.

Its weights ship inside the wheel; nothing is downloaded. It finds faces tilted up to about
45-60° on its own, so it searches the upright image only unless told otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faces.detectors.base import Detector, RawFace

if TYPE_CHECKING:
    import numpy as np

# Columns of mtcnn's numpy output (box_format="xyxy"): image id, x1, y1, x2, y2, score, then the
# x of left eye, right eye, nose, mouth left, mouth right (6-10), then their y (11-15).
_POINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class MTCNNDetector(Detector):
    name = "mtcnn"

    def __init__(self) -> None:
        super().__init__()
        from mtcnn import MTCNN

        self._mtcnn = MTCNN(device="CPU:0")

    def bare(self, rgb: np.ndarray) -> Any:
        # mtcnn 1.0.0 keeps its default min_face_size (20): other values break its pyramid.
        return self._mtcnn.detect_faces(rgb, box_format="xyxy", output_type="numpy")

    def _detect(self, rgb: np.ndarray) -> list[RawFace]:
        if min(rgb.shape[:2]) < 12:  # smaller than its smallest window: mtcnn raises
            return []
        rows = self.bare(rgb)
        faces = []
        for row in rows:
            x1, y1, x2, y2, score = (float(v) for v in row[1:6])
            if x2 <= x1 or y2 <= y1:
                continue
            landmarks = {name: (float(row[6 + i]), float(row[11 + i])) for i, name in enumerate(_POINTS)}
            faces.append(RawFace(box=(x1, y1, x2 - x1, y2 - y1), score=min(1.0, max(0.0, score)), landmarks=landmarks))
        return faces
