"""Fixtures of the classifier tests: labeled faces, a fake classifier (no TensorFlow) for the
service tests, and a tiny real Keras model (trained once per session) for files and the API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from django.core.cache import cache

from classifier.ml.fitting import Progress, TrainingCancelled
from classifier.ml.recipe import Recipe
from classifier.models import ModelVersion
from classifier.services import runs
from labeling.services import face_exclude, face_label
from tests.factories import make_face, make_idol

TINY = Recipe(input_size=16, widths=(4, 8), convs_per_block=(1, 1), embedding_size=8, epochs=1, batch_size=16)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # throttling counts live in the cache


def labeled_faces(idol, n: int) -> list:
    faces = [make_face() for _ in range(n)]
    for face in faces:
        face_label(face=face, idol=idol)
    return faces


def not_target_faces(n: int) -> list:
    faces = [make_face() for _ in range(n)]
    for face in faces:
        face_exclude(face=face, reason="not_target")
    return faces


def labeled_faces_on_both_sides(idol, n: int) -> list:
    """At least ``n`` labeled faces, with some on each side of the split (ids vary by database)."""
    from classifier.ml.dataset import validation_side

    faces = labeled_faces(idol, n)
    while len({validation_side(f.pk) for f in faces}) < 2:
        faces += labeled_faces(idol, 1)
    return faces


@pytest.fixture
def two_idols(settings):
    """Two idols with 8 or more single-label faces each, on both sides of the split
    (minimum per class: 3)."""
    settings.IDOLSITE_MIN_FACES_PER_CLASS = 3
    a, b = make_idol("Aiko"), make_idol("Bunko")
    return {a: labeled_faces_on_both_sides(a, 8), b: labeled_faces_on_both_sides(b, 8)}


class FakeClassifier:
    """Stands in for classifier.ml.classifier.Classifier in service tests: same interface, numpy only."""

    input_size = 16

    def __init__(self) -> None:
        self.recipe = Recipe(input_size=16, epochs=2)
        self.history: dict = {}
        self.metrics: dict = {}
        self.class_idol_ids: list = []
        self.class_names: list = []
        self.fingerprint = ""
        self.train_seconds = 0.1
        self.labels: dict = {}
        self.started_from = None

    def can_start_from(self, other, class_idol_ids) -> bool:
        return list(other.class_idol_ids) == list(class_idol_ids)

    def train(
        self, data, *, pixels=None, report=None, should_cancel=None, force=False, verbose=0, start_from=None
    ) -> bool:
        self.started_from = start_from
        for epoch in (1, 2):
            if report:
                report(Progress(epoch=epoch, epochs=2, step=1, steps=1, loss=1.0 / epoch, val_accuracy=0.5))
            if should_cancel and should_cancel():
                raise TrainingCancelled("cancelled")
        self.history = {"loss": [1.0, 0.5], "accuracy": [0.5, 0.8], "val_loss": [1.1, 0.6], "val_accuracy": [0.5, 0.75]}
        self.class_idol_ids = list(data.class_idol_ids)
        self.class_names = list(data.class_names)
        self.fingerprint = data.fingerprint
        self.n = data.n_classes
        self.val_labels = [data.labels[i] for i in data.indices(validation=True)]
        return True

    def predict(self, pixels, *, batch_size=256):
        # Right on every validation face (top-1 = 1.0): 0.6 on the true class, the rest shared.
        out = np.full((len(pixels), self.n), 0.4 / max(self.n - 1, 1), dtype="float32")
        for row, label in enumerate(self.val_labels[: len(pixels)]):
            out[row, label] = 0.6
        return out

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "model.keras").write_bytes(b"fake")
        (directory / "model.json").write_text(json.dumps({"format_version": 1, "fake": True}))


@pytest.fixture
def fake_classifier(monkeypatch):
    created: list[FakeClassifier] = []

    def make(options):
        clf = FakeClassifier()
        created.append(clf)
        return clf

    monkeypatch.setattr(runs, "_new_classifier", make)
    # The fake's files cannot be loaded: the active model is compared on its own split figure
    # (test_training.py tests the comparison on the same faces).
    monkeypatch.setattr(runs, "_comparison_classifier", lambda version: None)
    return created


def two_class_set(size: int):
    """32 synthetic pictures of two classes (class 1 is red) and their labeled set."""
    from classifier.ml.dataset import LabeledSet

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, size=(32, size, size, 3), dtype=np.uint8)
    pixels[16:, :, :, 0] = 255
    data = LabeledSet(class_idol_ids=[1, 2], class_names=["one", "two"])
    data.face_ids = list(range(1, 33))
    data.labels = [0] * 16 + [1] * 16
    data.crops = [""] * 32
    return data, pixels


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny real Keras classifier (two classes, 16x16), trained for one epoch on synthetic
    pictures and saved: files and the API are tested against it. Built once per session."""
    from classifier.ml.classifier import Classifier

    data, pixels = two_class_set(16)
    clf = Classifier(TINY)
    clf.train(data, pixels=pixels)
    path = tmp_path_factory.mktemp("tiny") / "tiny-model"
    clf.save(path)
    return path


@pytest.fixture
def active_tiny_model(tiny_model_dir, settings):
    """The tiny model installed as the active version, its classes remapped to two new idols."""
    from classifier.services.versions import forget_loaded

    a, b = make_idol("Chika"), make_idol("Dai")
    directory = "tiny"
    target = Path(settings.IDOLSITE_MODEL_DIR) / directory
    shutil.copytree(tiny_model_dir, target)
    meta = json.loads((target / "model.json").read_text())
    meta["class_idol_ids"] = [a.pk, b.pk]
    (target / "model.json").write_text(json.dumps(meta))
    forget_loaded()
    version = ModelVersion.objects.create(
        directory=directory,
        format_version=1,
        class_idol_ids=[a.pk, b.pk],
        input_size=16,
        fingerprint="f" * 64,
        val_top1=0.9,
        is_active=True,
    )
    yield version
    forget_loaded()


from tests.classifier.suggest_fixtures import scripted  # noqa: E402, F401  (the suggestion tests)
