"""A scripted classifier for the suggestion tests: each face's probabilities and embedding are
given by the test (keyed by the face's crop name), no TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.models import ModelVersion, Suggestion
from tests.factories import make_embedded_face, make_face, make_idol


class ScriptedClassifier:
    input_size = 16

    def __init__(self, class_idol_ids: list[int | None]) -> None:
        self.class_idol_ids = class_idol_ids
        self.script: dict[str, tuple[list[float], list[float]]] = {}

    def say(self, face, probabilities, embedding=None) -> None:
        emb = embedding if embedding is not None else [1.0, 0.0, 0.0, 0.0]
        self.script[face.crop.name] = (list(probabilities), list(emb))

    def predict_with_embeddings(self, pixels, *, batch_size: int = 256):
        rows = [
            self.script.get(name, ([1.0 / len(self.class_idol_ids)] * len(self.class_idol_ids), [0.0] * 4))
            for name in pixels
        ]
        return (
            np.asarray([r[0] for r in rows], dtype="float32"),
            np.asarray([r[1] for r in rows], dtype="float32"),
        )


@pytest.fixture
def scripted(monkeypatch):
    """Three idols, an active version over them and a scripted classifier that the suggest task
    loads; crops are not decoded (the "pixels" are the crop names)."""
    idols = [make_idol("Aoi"), make_idol("Beni"), make_idol("Chiyo")]
    version = ModelVersion.objects.create(
        directory="scripted",
        format_version=1,
        class_idol_ids=[i.pk for i in idols],
        input_size=16,
        fingerprint="s" * 64,
        val_top1=0.9,
        is_active=True,
    )
    clf = ScriptedClassifier([i.pk for i in idols])
    monkeypatch.setattr("classifier.dataset.load_pixels", lambda crops, size, **k: list(crops))
    monkeypatch.setattr("classifier.services.versions.load_classifier", lambda version=None: clf)
    return {"idols": idols, "version": version, "clf": clf}


def new_version(idols, **kwargs) -> ModelVersion:
    ModelVersion.objects.filter(is_active=True).update(is_active=False)
    return ModelVersion.objects.create(
        directory=f"v{ModelVersion.objects.count() + 1}",
        format_version=1,
        class_idol_ids=[i.pk for i in idols],
        input_size=16,
        fingerprint="t" * 64,
        val_top1=0.9,
        is_active=True,
        **kwargs,
    )


def faces_said(clf, rows) -> list:
    """A face per row of probabilities (and optional embedding: the model's, and the head of the
    face's own vector, which clusters read)."""
    out = []
    for row in rows:
        face = make_embedded_face(*row[1]) if isinstance(row, tuple) else make_face()
        if isinstance(row, tuple):
            clf.say(face, row[0], row[1])
        else:
            clf.say(face, row)
        out.append(face)
    return out


def make_suggestion(face, version: ModelVersion, top, *, unknown: bool = False) -> Suggestion:
    """A stored suggestion of ``face`` by ``version``: ``top`` is [(idol, p), ...] best first;
    the top-1 columns come from it as ``suggest_faces`` stores them."""
    from classifier.services.suggestions import rank

    listed = [{"idol": idol.pk, "p": p} for idol, p in top]
    idol_id, probability, margin = rank(listed, set())
    return Suggestion.objects.create(
        face=face,
        model_version=version,
        idol_id=idol_id,
        probability=probability,
        margin=margin,
        unknown=unknown,
        top=listed,
    )
