"""Face detector backends, one module each, chosen by IDOLSITE_DETECTOR.

Importing this package loads no library: each backend imports TensorFlow or OpenCV when it is
first instantiated, so the web server and the task cluster's parent stay light (a process that
forks after loading TensorFlow hangs its children).
"""

from __future__ import annotations

import threading

from django.conf import settings

from faces.detectors.base import Detector, DetectorUnavailable, RawFace
from faces.detectors.haar import HaarDetector
from faces.detectors.mtcnn import MTCNNDetector
from faces.detectors.yunet import YuNetDetector

__all__ = ["DETECTORS", "Detector", "DetectorUnavailable", "RawFace", "get_detector"]

DETECTORS: dict[str, type[Detector]] = {
    MTCNNDetector.name: MTCNNDetector,
    HaarDetector.name: HaarDetector,
    YuNetDetector.name: YuNetDetector,
}

_loaded: dict[tuple[str, str], Detector] = {}
_loading = threading.Lock()


def detector_class(name: str | None = None) -> type[Detector]:
    name = name or settings.IDOLSITE_DETECTOR
    try:
        return DETECTORS[name]
    except KeyError:
        raise DetectorUnavailable(f"unknown detector {name!r} (choose one of {', '.join(DETECTORS)})") from None


def get_detector(name: str | None = None) -> Detector:
    """The process's instance of a backend (the setting's when no name is given), loaded once."""
    cls = detector_class(name)
    # The YuNet model path is part of the key, so tests and benchmarks may point elsewhere.
    key = (cls.name, str(settings.IDOLSITE_YUNET_MODEL) if cls is YuNetDetector else "")
    with _loading:
        if key not in _loaded:
            _loaded[key] = cls()
        return _loaded[key]
