"""bench/train_eval.py's few-shot and open-set measures on synthetic vectors: people as tight
Gaussian clusters in 128 dimensions, spaced like dlib's (faces of one person about 0.3 apart,
two people about 1.0), so a broken measure shows without the shared faces or the embedder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from classifier.ml.embedding_head import HeadRecipe

BENCH = Path(__file__).resolve().parents[2] / "bench" / "train_eval.py"
# Fewer optimizer steps than the product's: the clusters are easy, the test stays quick.
QUICK = HeadRecipe(epochs=20, min_steps=60)
NAMES = ["Fumika", "Aoi", "Emi", "Chika", "Beni", "Dai"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_train_eval", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clusters(*, people: int = 6, faces: int = 16, spread: float = 1.0, seed: int = 0):
    """(vectors, labels, validation): ``spread`` scales the distance between the people."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread / np.sqrt(256), size=(people, 128))
    labels = np.repeat(np.arange(people), faces)
    vectors = centers[labels] + rng.normal(scale=0.3 / np.sqrt(256), size=(len(labels), 128))
    validation = np.tile(np.arange(faces) % 4 == 0, people)
    return vectors.astype(np.float32), labels, validation


def test_few_shot_names_separate_people_from_three_faces(bench):
    vectors, labels, validation = clusters()
    out = bench.few_shot(vectors, labels, validation, shots=(1, 3), draws=2, recipe=QUICK)
    assert set(out) == {"1", "3"}
    assert len(out["3"]["draws"]) == 2
    assert out["3"]["mean"] >= 0.95
    assert out["3"]["mean"] == pytest.approx(np.mean(out["3"]["draws"]), abs=1e-4)


def test_few_shot_is_near_chance_when_people_coincide(bench):
    vectors, labels, validation = clusters(spread=0.0)
    out = bench.few_shot(vectors, labels, validation, shots=(3,), draws=2, recipe=QUICK)
    assert out["3"]["mean"] < 0.5  # six people: chance is 1/6


def test_open_set_tells_strangers_from_known_people(bench):
    vectors, labels, validation = clusters()
    out = bench.open_set(vectors, labels, validation, NAMES, group_size=2, recipe=QUICK)
    # Sorted by name, cut in disjoint groups: every person a stranger once.
    assert [g["strangers"] for g in out["groups"]] == [["Aoi", "Beni"], ["Chika", "Dai"], ["Emi", "Fumika"]]
    assert out["strangers_accepted"] <= 0.05
    assert out["known_accepted_right"] >= 0.95
    assert out["strangers_accepted"] == pytest.approx(np.mean([g["strangers_accepted"] for g in out["groups"]]))


def test_open_set_accepts_strangers_who_look_like_known_people(bench):
    vectors, labels, validation = clusters()
    # The fifth and sixth people are the first two again: as strangers they pass for them.
    vectors[labels == 4] = vectors[labels == 0] + 0.001
    vectors[labels == 5] = vectors[labels == 1] + 0.001
    names = ["A", "B", "C", "D", "Y", "Z"]  # Y and Z are strangers together
    out = bench.open_set(vectors, labels, validation, names, group_size=2, recipe=QUICK)
    assert out["groups"][2]["strangers"] == ["Y", "Z"]
    assert out["groups"][2]["strangers_accepted"] >= 0.9


def test_bad_input_is_refused(bench):
    vectors, labels, validation = clusters()
    validation[labels == 2] = True  # the third person has no face to train on
    with pytest.raises(ValueError, match="class 2 has no face on the training side"):
        bench.few_shot(vectors, labels, validation, shots=(1,), draws=1, recipe=QUICK)
    vectors, labels, validation = clusters()
    with pytest.raises(ValueError, match="6 names for 5 classes"):
        bench.open_set(vectors[labels < 5], labels[labels < 5], validation[labels < 5], NAMES, recipe=QUICK)
    with pytest.raises(ValueError, match="too few"):
        bench.open_set(vectors, labels, validation, NAMES, group_size=5, recipe=QUICK)
