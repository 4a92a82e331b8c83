"""Small builders for tests: real images made with Pillow, rows made through the services."""

from __future__ import annotations

import io
import itertools

from PIL import Image, ImageDraw

from core.errors import DuplicatePhoto
from faces import services as face_services
from faces.models import Face, Photo
from labeling import services as label_services
from labeling.models import Idol, IdolGroup

_counter = itertools.count(1)


def image_bytes(
    width: int = 320, height: int = 240, fmt: str = "JPEG", seed: int | None = None, mode: str = "RGB"
) -> bytes:
    """A real, unique image (a pattern drawn from ``seed``), encoded in ``fmt``."""
    seed = next(_counter) if seed is None else seed
    image = Image.new("RGB", (width, height), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    draw = ImageDraw.Draw(image)
    for i in range(6):
        x = (seed * 13 + i * 41) % max(1, width - 20)
        y = (seed * 29 + i * 23) % max(1, height - 20)
        draw.ellipse(
            [x, y, x + 20 + i * 3, y + 20 + i * 2], fill=((seed + i * 70) % 256, (i * 40) % 256, (seed * 7) % 256)
        )
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def make_photo(**kwargs) -> Photo:
    data = kwargs.pop("data", None)
    if data is not None:
        return face_services.photo_create(data=data, **kwargs)
    # The patterns repeat with the counter: now and then one looks like an earlier photo of the
    # test to the perceptual hash, which refuses it as a near copy. Another pattern then.
    for _ in range(4):
        try:
            return face_services.photo_create(data=image_bytes(), **kwargs)
        except DuplicatePhoto:
            continue
    return face_services.photo_create(data=image_bytes(), **kwargs)


def make_face(
    photo: Photo | None = None, box: tuple[int, int, int, int] = (10, 10, 50, 60), score: float = 0.9
) -> Face:
    photo = photo or make_photo()
    with face_services.atomic_with_files() as files:
        return face_services.face_create(
            photo=photo, box=box, crop_jpeg=image_bytes(64, 64), detector="test", score=score, tracker=files
        )


def make_idol(name: str | None = None, **kwargs) -> Idol:
    return label_services.idol_create(name=name or f"Idol {next(_counter)}", **kwargs)


def make_group(name: str | None = None) -> IdolGroup:
    return label_services.group_create(name=name or f"Group {next(_counter)}")


def make_embedded_face(*head: float, **kwargs) -> Face:
    """A face with a vector of the current embedder: ``head`` then zeros (128-d)."""
    import numpy as np

    from faces.models import FaceEmbedding
    from faces.selectors import current_model

    face = make_face(**kwargs)
    vector = np.zeros(128, dtype="<f4")
    vector[: len(head)] = head
    name, model_hash = current_model()
    FaceEmbedding.objects.create(
        face=face, embedder=name, model_hash=model_hash, dimension=128, vector=vector.tobytes()
    )
    return face
