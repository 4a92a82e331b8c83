"""A scripted detector backend, so tests of tasks, re-detection and the API need no model."""

from __future__ import annotations

import pytest

from faces import detectors
from faces.detectors.base import Detector, RawFace


class ScriptedDetector(Detector):
    """Answers the faces in ``ScriptedDetector.faces`` (array pixels), or raises ``error``."""

    name = "scripted"
    faces: list[RawFace] = []
    error: Exception | None = None
    calls = 0

    def _detect(self, rgb):
        type(self).calls += 1
        if self.error is not None:
            raise self.error
        height, width = rgb.shape[:2]
        return [f for f in self.faces if f.box[0] + f.box[2] <= width and f.box[1] + f.box[3] <= height]


def face(x: float, y: float, w: float, h: float, score: float = 0.99) -> RawFace:
    return RawFace(
        box=(x, y, w, h),
        score=score,
        landmarks={"left_eye": (x + w * 0.3, y + h * 0.4), "right_eye": (x + w * 0.7, y + h * 0.4)},
    )


@pytest.fixture
def scripted(settings, monkeypatch):
    """Make the scripted backend the configured detector; set ``.faces`` or ``.error`` on it."""
    monkeypatch.setitem(detectors.DETECTORS, ScriptedDetector.name, ScriptedDetector)
    monkeypatch.setattr(detectors, "_loaded", {})
    monkeypatch.setattr(ScriptedDetector, "faces", [])
    monkeypatch.setattr(ScriptedDetector, "error", None)
    monkeypatch.setattr(ScriptedDetector, "calls", 0)
    settings.IDOLSITE_DETECTOR = ScriptedDetector.name
    settings.IDOLSITE_DETECT_ANGLES = [0.0]
    return ScriptedDetector
