"""Recognizers for the bots' tests: a stubbed one (fixed detection and probabilities, no
TensorFlow or dlib) and a real one (dlib's embeddings of three shared people)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from bots.models import BotAccount
from classifier import recognition
from classifier.models import ModelVersion
from tests.conftest import SHARED_FACES, distinct_crops
from tests.factories import make_idol

PEOPLE = ["Hugh_Jackman", "Keira_Knightley", "Will_Smith"]


class FixedClassifier:
    """Says the same probabilities for every face, one row a face in detection order."""

    input_size = 16

    def __init__(self, class_idol_ids: list[int | None], rows: list[list[float]]) -> None:
        self.class_idol_ids = class_idol_ids
        self.rows = rows

    def predict_with_embeddings(self, pixels, *, batch_size: int = 256):
        n = len(pixels)
        return np.asarray(self.rows[:n], dtype="float32"), np.zeros((n, 4), dtype="float32")


@pytest.fixture
def stub_recognizer(monkeypatch):
    """Three idols, an active version over them, and ``say(boxes, rows)``: detection finds those
    boxes and the model gives those probabilities, one row a box."""
    idols = [make_idol("Aoi"), make_idol("Beni"), make_idol("Chiyo")]
    version = ModelVersion.objects.create(
        directory="stub",
        format_version=1,
        class_idol_ids=[i.pk for i in idols],
        input_size=16,
        fingerprint="b" * 64,
        val_top1=0.9,
        is_active=True,
    )
    state: dict = {"boxes": [], "rows": []}

    def say(boxes, rows) -> None:
        state["boxes"], state["rows"] = boxes, rows

    crop = Image.new("RGB", (64, 64), (200, 100, 50))
    monkeypatch.setattr(recognition, "detect_faces", lambda image: [(tuple(b), crop) for b in state["boxes"]])
    monkeypatch.setattr(
        "classifier.services.versions.load_classifier",
        lambda version=None: FixedClassifier([i.pk for i in idols], state["rows"]),
    )
    return {"idols": idols, "version": version, "say": say}


def photo_of(person: str, index: int = 12, *, side: int = 480) -> bytes:
    """A JPEG "photo" of a shared person: one of her crops (not a labeled one) with room around
    it, as a phone picture of one face would be."""
    face = Image.open(io.BytesIO(distinct_crops(person)[index])).convert("RGB").resize((side // 2, side // 2))
    framed = ImageOps.expand(face, border=side // 4, fill=(90, 110, 130))
    out = io.BytesIO()
    framed.save(out, format="JPEG", quality=92)
    return out.getvalue()


@pytest.fixture
def real_recognizer(auto_retrain):
    """The embedding recognizer trained (as in production, on commit) on five crops each of
    three shared people: {person: idol}."""
    from faces import tasks as face_tasks
    from labeling.services import face_import, idol_create

    if not SHARED_FACES.is_dir():
        pytest.skip(f"needs the shared face crops at {SHARED_FACES} (absent here)")
    idols, labeled = {}, []
    for person in PEOPLE:
        idols[person] = idol_create(name=person.replace("_", " "))
        for data in distinct_crops(person)[:5]:
            labeled.append(face_import(data=data, idol=idols[person]).face_id)
    with auto_retrain():
        face_tasks.embed_faces(labeled)
    assert ModelVersion.objects.get(is_active=True).kind == "embedding"
    return idols


@pytest.fixture
def line_bot(db) -> BotAccount:
    return BotAccount.objects.create(name="line-main", kind="line", secret="s3cret-channel", token="line-token")


@pytest.fixture
def mastodon_bot(db) -> BotAccount:
    return BotAccount.objects.create(name="don", kind="mastodon", server="http://127.0.0.1:1", token="don-token")
