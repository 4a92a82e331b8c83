"""Who is this? Detect the faces of an image, crop them and ask the active model.

Detection is the pipeline's (``faces.detection.analyze_image``): boxes in the image's pixels
and eye-levelled crops, made exactly as stored faces' crops are, so the model sees what it was
trained on. A detector that cannot run raises ``DetectorUnavailable`` (the API's 503).

:func:`predict_crops` is the part without detection, for the recognizer and for suggestions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext

from classifier.models import Recognizer
from core.errors import Conflict
from labeling.models import Idol


class NoActiveModel(Conflict):
    code = "no_model"


@dataclass
class Guess:
    idol_id: int
    name: str
    probability: float
    idol_status: str = "active"  # or "graduated", "retired": she left, and is still recognized


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


def _as_image(crop: Any) -> Any:
    """A crop (a PIL image, a uint8 array or encoded bytes) as a PIL image."""
    import numpy as np
    from PIL import Image

    from faces.images import decode_image

    if isinstance(crop, bytes | bytearray):
        crop = decode_image(bytes(crop)).image
    elif isinstance(crop, np.ndarray):
        crop = Image.fromarray(np.asarray(crop, dtype=np.uint8)[..., :3])
    if not isinstance(crop, Image.Image):
        raise TypeError(f"a crop must be an image, an array or bytes, not {type(crop).__name__}")
    return crop


def _as_pixels(crop: Any, size: int) -> Any:
    from classifier.ml.dataset import crop_pixels

    return crop_pixels(_as_image(crop), size)


def predict_crops(
    crops: Sequence[Any], *, classifier: Any = None, top: int = 5, threshold: float | None = None
) -> list[CropPrediction]:
    """Top idols of each face crop (PIL images, uint8 arrays or encoded bytes). "Unknown" when
    the best idol's probability is under ``IDOLSITE_UNKNOWN_THRESHOLD`` or the best class is
    "other". Idols merged or deleted by mistake since the model was trained are left out of the
    answers; graduated and retired ones stay, marked by ``idol_status``."""
    import numpy as np

    from classifier.services.versions import load_classifier

    classifier = classifier or load_classifier()
    if classifier is None:
        raise NoActiveModel(gettext("no active model: train one first (manage.py train)"))
    threshold = settings.IDOLSITE_UNKNOWN_THRESHOLD if threshold is None else threshold
    if not crops:
        return []
    if getattr(classifier, "kind", "") == Recognizer.EMBEDDING:
        embeddings, readable = _embed_crops(crops, classifier)
        prediction = classifier.predict_vectors(embeddings)
        probabilities = prediction.probabilities
        far = prediction.unknown | ~readable
        probabilities[~readable] = 0.0
    else:
        pixels = np.stack([_as_pixels(crop, classifier.input_size) for crop in crops])
        probabilities, embeddings = classifier.predict_with_embeddings(pixels)
        far = np.zeros(len(crops), dtype=bool)
    ids = classifier.class_idol_ids
    known = {
        pk: (name, reason or "active")
        for pk, name, reason in Idol.all_objects.recognizable()
        .filter(pk__in=[i for i in ids if i is not None])
        .values_list("id", "name", "deletion_reason")
    }
    results = []
    for row, embedding, beyond in zip(probabilities, embeddings, far, strict=True):
        order = np.argsort(-row)
        guesses = [
            Guess(
                idol_id=ids[i],
                name=known[ids[i]][0],
                probability=round(float(row[i]), 4),
                idol_status=known[ids[i]][1],
            )
            for i in order
            if ids[i] is not None and ids[i] in known
        ][:top]
        best = guesses[0].probability if guesses else 0.0
        unknown = bool(beyond) or ids[order[0]] is None or best < threshold
        results.append(CropPrediction(top=guesses, unknown=unknown, best_probability=best, embedding=embedding))
    return results


def _embed_crops(crops: Sequence[Any], classifier: Any) -> tuple[Any, Any]:
    """The vectors of crops made as stored faces' crops are (the detection margin around the
    face), from the embedder the recognizer learned from: (vectors, readable). A crop the
    embedder fails on is unreadable (then unknown), not an error for the others."""
    import numpy as np

    from faces.embedders import EmbedderUnavailable, FaceImage, face_box_in_crop, get_embedder
    from faces.selectors import current_model

    if current_model(classifier.embedder) != (classifier.embedder, classifier.model_hash):
        raise EmbedderUnavailable(
            gettext(
                "the active recognizer learned from another embedding model than the configured one: "
                "train it again (manage.py train)"
            )
        )
    embedder = get_embedder(classifier.embedder)
    images = []
    for crop in crops:
        rgb = np.asarray(_as_image(crop).convert("RGB"))
        side = min(rgb.shape[:2])
        box = face_box_in_crop(side=side, detector="detected", margin=settings.IDOLSITE_CROP_MARGIN)
        images.append(FaceImage(rgb=rgb, box=box))
    vectors = np.zeros((len(images), classifier.dimension), dtype=np.float32)
    readable = np.zeros(len(images), dtype=bool)
    try:
        vectors[:] = np.stack(embedder.embed(images))
        readable[:] = True
    except EmbedderUnavailable:
        raise
    except Exception:  # one bad crop spoils a batch call: one at a time
        for n, image in enumerate(images):
            try:
                vectors[n] = embedder.embed([image])[0]
                readable[n] = True
            except Exception:
                continue
    return vectors, readable


def detect_faces(image: Any) -> list[tuple[tuple[int, int, int, int], Any]]:
    """The detection step as ``(box, crop)`` pairs: the detection pipeline's boxes and aligned
    JPEG crops (``faces.detection.analyze_image``), as stored faces get them."""
    from faces import detection

    return [(tuple(int(v) for v in face.box), face.crop) for face in detection.analyze_image(image, crops=True).faces]


def recognize(image: Any, *, top: int = 5, threshold: float | None = None) -> list[RecognizedFace]:
    """Each face of ``image`` (bytes or a decoded PIL image) with its top idols; ``threshold``
    replaces ``IDOLSITE_UNKNOWN_THRESHOLD`` (a bot's own)."""
    from classifier.services.versions import load_classifier
    from faces.images import decode_image

    classifier = load_classifier()
    if classifier is None:  # before detection: it is slow and the answer would be useless
        raise NoActiveModel(gettext("no active model: train one first (manage.py train)"))
    if isinstance(image, bytes | bytearray):
        image = decode_image(bytes(image)).image
    faces = detect_faces(image)
    predictions = predict_crops([crop for _, crop in faces], classifier=classifier, top=top, threshold=threshold)
    return [
        RecognizedFace(box=box, top=p.top, unknown=p.unknown, best_probability=p.best_probability)
        for (box, _), p in zip(faces, predictions, strict=True)
    ]


# --- images given by URL --------------------------------------------------------------------


def fetch_image(url: str) -> bytes:
    """The image at a caller's URL, through the same guarded fetch as ``POST /api/detect/``."""
    from faces.api import fetch

    return fetch(url, max_bytes=settings.IDOLSITE_API_MAX_IMAGE_BYTES)


def idols_of(guesses: Iterable[Guess]) -> list[int]:
    return [g.idol_id for g in guesses]
