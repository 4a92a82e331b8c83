"""Face embedder backends, one module each, chosen by IDOLSITE_EMBEDDER.

Importing this package loads no library: each backend imports dlib (or another) when it is first
instantiated, so the web server and the task cluster's parent stay light.
"""

from __future__ import annotations

import threading

from django.conf import settings

from faces.embedders.base import Embedder, EmbedderUnavailable, FaceImage, face_box_in_crop
from faces.embedders.dlib_resnet import DlibEmbedder

__all__ = [
    "EMBEDDERS",
    "Embedder",
    "EmbedderUnavailable",
    "FaceImage",
    "embedder_class",
    "face_box_in_crop",
    "get_embedder",
]

EMBEDDERS: dict[str, type[Embedder]] = {
    DlibEmbedder.name: DlibEmbedder,
}

_loaded: dict[tuple[str, str], Embedder] = {}
_loading = threading.Lock()


def embedder_class(name: str | None = None) -> type[Embedder]:
    name = name or settings.IDOLSITE_EMBEDDER
    try:
        return EMBEDDERS[name]
    except KeyError:
        raise EmbedderUnavailable(f"unknown embedder {name!r} (choose one of {', '.join(EMBEDDERS)})") from None


def get_embedder(name: str | None = None) -> Embedder:
    """The process's instance of a backend (the setting's when no name is given), loaded once
    per model file, so tests and benchmarks may point IDOLSITE_EMBEDDER_MODEL elsewhere."""
    cls = embedder_class(name)
    key = (cls.name, str(cls.model_path()))
    with _loading:
        if key not in _loaded:
            _loaded[key] = cls()
        return _loaded[key]
