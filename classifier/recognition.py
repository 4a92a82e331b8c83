"""Who is this? Detect the faces of an image, crop them and ask the active model.

The seam with face detection (issue 3) is :func:`detect_faces`. It imports ``faces.detection``
when first used and calls ``detect_faces(image)`` there, or, when the module has none,
``analyze_image(image).faces`` (the pipeline on main). Either takes a decoded RGB
``PIL.Image.Image`` and gives an iterable of faces, each a ``(box, crop)`` pair or an object
with ``box`` and ``crop`` attributes: ``box`` is ``(x, y, w, h)`` in the image's pixels and
``crop`` the aligned face crop as a ``PIL.Image.Image``, a uint8 ``H x W x 3`` array or
JPEG/PNG bytes (square, any size: it is resized to the model's input like the stored crops the
model was trained on). No ``faces.detection``: :class:`DetectionUnavailable` (the API's 503).

:func:`predict_crops` is the part without detection, for the recognizer and for suggestions
(issue 7).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from faces.errors import DomainError, InvalidImage
from labeling.models import Idol


class NoActiveModel(DomainError):
    code = "no_model"


class DetectionUnavailable(DomainError):
    code = "detection_unavailable"


@dataclass
class Guess:
    idol_id: int
    name: str
    probability: float


@dataclass
class CropPrediction:
    top: list[Guess]
    unknown: bool
    best_probability: float
    embedding: Any = None  # np.ndarray (embedding_size,)


@dataclass
class RecognizedFace:
    box: tuple[int, int, int, int]
    top: list[Guess] = field(default_factory=list)
    unknown: bool = True
    best_probability: float = 0.0


def _as_pixels(crop: Any, size: int) -> Any:
    import numpy as np
    from PIL import Image

    from classifier.dataset import crop_pixels
    from faces.images import decode_image

    if isinstance(crop, bytes | bytearray):
        crop = decode_image(bytes(crop)).image
    elif isinstance(crop, np.ndarray):
        crop = Image.fromarray(np.asarray(crop, dtype=np.uint8)[..., :3])
    if not isinstance(crop, Image.Image):
        raise TypeError(f"a crop must be an image, an array or bytes, not {type(crop).__name__}")
    return crop_pixels(crop, size)


def predict_crops(
    crops: Sequence[Any], *, classifier: Any = None, top: int = 5, threshold: float | None = None
) -> list[CropPrediction]:
    """Top idols of each face crop (PIL images, uint8 arrays or encoded bytes). "Unknown" when
    the best idol's probability is under ``IDOLSITE_UNKNOWN_THRESHOLD`` or the best class is
    "other". Idols deleted since the model was trained are left out of the answers."""
    import numpy as np

    from classifier.model import load_classifier

    classifier = classifier or load_classifier()
    if classifier is None:
        raise NoActiveModel("no active model: train one first (manage.py train)")
    threshold = settings.IDOLSITE_UNKNOWN_THRESHOLD if threshold is None else threshold
    if not crops:
        return []
    pixels = np.stack([_as_pixels(crop, classifier.input_size) for crop in crops])
    probabilities, embeddings = classifier.predict_with_embeddings(pixels)
    ids = classifier.class_idol_ids
    names = dict(Idol.objects.filter(pk__in=[i for i in ids if i is not None]).values_list("id", "name"))
    results = []
    for row, embedding in zip(probabilities, embeddings, strict=True):
        order = np.argsort(-row)
        guesses = [
            Guess(idol_id=ids[i], name=names[ids[i]], probability=round(float(row[i]), 4))
            for i in order
            if ids[i] is not None and ids[i] in names
        ][:top]
        best = guesses[0].probability if guesses else 0.0
        unknown = ids[order[0]] is None or best < threshold
        results.append(CropPrediction(top=guesses, unknown=unknown, best_probability=best, embedding=embedding))
    return results


def detect_faces(image: Any) -> list[tuple[tuple[int, int, int, int], Any]]:
    """The detection step as ``(box, crop)`` pairs: ``faces.detection.detect_faces(image)`` when
    the module has it, else ``faces.detection.analyze_image(image).faces`` (issue 3's pipeline:
    each face has ``box`` and an aligned JPEG ``crop``)."""
    try:
        from faces import detection
    except ImportError as exc:
        raise DetectionUnavailable(
            "face detection is not available on this server (faces.detection is missing)"
        ) from exc
    if hasattr(detection, "detect_faces"):
        found = detection.detect_faces(image)
    elif hasattr(detection, "analyze_image"):
        found = detection.analyze_image(image).faces
    else:
        raise DetectionUnavailable("faces.detection has neither detect_faces nor analyze_image")
    pairs = []
    for face in found:
        box, crop = (face.box, face.crop) if hasattr(face, "box") else face
        pairs.append((tuple(int(v) for v in box), crop))
    return pairs


def recognize(image: Any, *, top: int = 5) -> list[RecognizedFace]:
    """Each face of ``image`` (bytes or a decoded PIL image) with its top idols."""
    from classifier.model import load_classifier
    from faces.images import decode_image

    classifier = load_classifier()
    if classifier is None:  # before detection: it is slow and the answer would be useless
        raise NoActiveModel("no active model: train one first (manage.py train)")
    if isinstance(image, bytes | bytearray):
        image = decode_image(bytes(image)).image
    faces = detect_faces(image)
    predictions = predict_crops([crop for _, crop in faces], classifier=classifier, top=top)
    return [
        RecognizedFace(box=box, top=p.top, unknown=p.unknown, best_probability=p.best_probability)
        for (box, _), p in zip(faces, predictions, strict=True)
    ]


# --- images given by URL --------------------------------------------------------------------


def _public_host(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return False
    return bool(infos)


def fetch_image(url: str, *, timeout: float = 10.0) -> bytes:
    """Download an image for the recognizer: http(s) only, public hosts only, size-limited."""
    import requests

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidImage("the URL must be an http or https address")
    if not _public_host(parts.hostname):
        raise InvalidImage(f"{parts.hostname} is not a public host")
    limit = settings.IDOLSITE_MAX_IMAGE_BYTES
    try:
        with requests.get(url, timeout=timeout, stream=True, allow_redirects=False) as response:
            if response.status_code != 200:
                raise InvalidImage(f"the URL answered HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise InvalidImage(f"the image at the URL is larger than {limit:,} bytes")
                chunks.append(chunk)
    except requests.RequestException as exc:
        raise InvalidImage(f"the URL could not be read: {type(exc).__name__}") from exc
    return b"".join(chunks)


def idols_of(guesses: Iterable[Guess]) -> list[int]:
    return [g.idol_id for g in guesses]
