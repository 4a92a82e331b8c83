"""The evaluation at a thousand idols: time, memory and size stay small, the pictures that apply
are drawn (no confusion picture), the calibration tells a calibrated model from an
over-confident one, and Japanese names are drawn in a font that has their glyphs.

No database: ``evaluate`` and the charts are plain functions. :func:`evaluate_within_limits` is
the check a test that trains a thousand idols calls with its model's probabilities."""

from __future__ import annotations

import json
import logging
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifier.ml import charts
from classifier.ml.charts import cjk_font, font_families, save_evaluation_images
from classifier.ml.evaluation import (
    CONFUSION_IMAGE,
    CURVES_IMAGE,
    FEWSHOT_IMAGE,
    MAX_CONFUSIONS,
    RELIABILITY_IMAGE,
    calibration,
    confusion_cells,
    evaluate,
    fewshot_points,
    top_k_accuracy,
)

JAPANESE_NAMES = [
    "白石麻衣",
    "齋藤飛鳥",
    "西野七瀬",
    "生田絵梨花",
    "橋本奈々未",
    "松村沙友理",
    "高山一実",
    "星野みなみ",
]
GIB = 2**30
SECONDS = 60
JSON_BYTES = 1_000_000


def synthetic(n_classes: int, n_faces: int, *, low: float = 0.5, high: float = 1.0, honest: bool = True, seed: int = 0):
    """Probabilities of a model right most of the time: each face's top-1 probability is drawn
    from [low, high]; an honest model is right with that probability, an over-confident one only
    as often as an honest one drawn from [0.5, 1] (75%)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_faces)
    confidence = rng.uniform(low, high, n_faces)
    right = rng.random(n_faces) < (confidence if honest else rng.uniform(0.5, 1.0, n_faces))
    predicted = np.where(right, labels, (labels + rng.integers(1, n_classes, n_faces)) % n_classes)
    probabilities = np.repeat(((1 - confidence) / (n_classes - 1))[:, None], n_classes, axis=1).astype("float32")
    probabilities[np.arange(n_faces), predicted] = confidence
    return probabilities, labels


def names_for(n: int) -> list[str]:
    return [JAPANESE_NAMES[i % len(JAPANESE_NAMES)] + f" {i}" for i in range(n)]


def evaluate_within_limits(
    probabilities: Any, labels: Any, *, class_names: list[str], folder: Path, fewshot: dict | None = None
) -> dict[str, Any]:
    """Evaluate and draw as a training does, and assert a minute, 1 GiB of Python and numpy
    allocations, and a small metrics JSON. Returns the metrics."""
    n = len(class_names)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        metrics = evaluate(
            probabilities,
            labels,
            class_idol_ids=list(range(1, n + 1)),
            class_names=class_names,
            face_ids=list(range(1, len(labels) + 1)),
        )
        if fewshot is not None:
            metrics["fewshot"] = fewshot
        history = {"loss": [2.0, 1.0], "val_loss": [2.2, 1.4], "accuracy": [0.4, 0.7], "val_accuracy": [0.3, 0.6]}
        metrics["images"] = save_evaluation_images(metrics, class_names, history, folder)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = len(json.dumps(metrics).encode())
    assert elapsed < SECONDS, f"{elapsed:.1f} s"
    assert peak < GIB, f"{peak / 2**20:.0f} MiB"
    assert size < JSON_BYTES, f"{size} bytes of metrics"
    return metrics


def test_a_thousand_idols_evaluate_within_a_minute_and_a_gib(tmp_path):
    probabilities, labels = synthetic(1000, 5000)
    metrics = evaluate_within_limits(
        probabilities, labels, class_names=names_for(1000), folder=tmp_path, fewshot={"1": 0.62, "3": 0.91, "10": 0.97}
    )
    assert "confusion_matrix" not in metrics
    assert len(metrics["per_class"]) == metrics["n_classes"] == 1000
    assert sum(row["support"] for row in metrics["per_class"]) == metrics["n_validation"] == 5000
    assert metrics["top1"] == pytest.approx(float(np.mean(probabilities.argmax(axis=1) == labels)), abs=1e-4)
    assert 0.7 < metrics["top1"] < 0.8  # right with the mean of its probability
    # Sparse: only the largest off-diagonal cells, the largest first.
    assert len(metrics["confusions"]) == MAX_CONFUSIONS < metrics["n_confusion_cells"]
    counts = [count for _, _, count in metrics["confusions"]]
    assert counts == sorted(counts, reverse=True)
    assert all(true != guess for true, guess, _ in metrics["confusions"])
    # The pictures that apply, and no N x N picture.
    assert metrics["images"] == [CURVES_IMAGE, RELIABILITY_IMAGE, FEWSHOT_IMAGE]
    assert not (tmp_path / CONFUSION_IMAGE).exists()
    for name in metrics["images"]:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_agree_with_scikit_learn():
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    probabilities, labels = synthetic(12, 600, low=0.2, seed=3)
    names = names_for(12)
    metrics = evaluate(
        probabilities, labels, class_idol_ids=list(range(12)), class_names=names, face_ids=list(range(600))
    )
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=list(range(12)), zero_division=0
    )
    for i, row in enumerate(metrics["per_class"]):
        assert row["precision"] == pytest.approx(precision[i], abs=1e-4)
        assert row["recall"] == pytest.approx(recall[i], abs=1e-4)
        assert row["f1"] == pytest.approx(f1[i], abs=1e-4)
        assert row["support"] == support[i]
    expected = confusion_matrix(labels, predicted, labels=list(range(12)))
    matrix, n = confusion_cells(metrics)  # few classes: every cell is kept, so it is whole again
    assert n == 12 and (matrix == expected).all()
    ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :5]
    assert metrics["top5"] == pytest.approx(float(np.mean((ranked == labels[:, None]).any(axis=1))), abs=1e-4)
    both = np.triu(expected + expected.T, k=1)  # each pair once, without the diagonal
    worst = {(int(a), int(b)) for a, b in zip(*np.nonzero(both == both.max()), strict=True)}
    first = metrics["confused_pairs"][0]
    assert first["count"] == both.max()
    assert (names.index(first["a"]["name"]), names.index(first["b"]["name"])) in worst
    assert {first["examples"][0]["true"], first["examples"][0]["predicted"]} == {first["a"]["name"], first["b"]["name"]}


def test_top_k_breaks_ties_by_class_index_like_argmax():
    flat = np.full((4, 10), 0.1)
    assert top_k_accuracy(flat, [0, 1, 2, 9], 1) == 0.25  # only class 0 is the "top"
    assert top_k_accuracy(flat, [0, 1, 2, 9], 3) == 0.75
    assert top_k_accuracy(np.zeros((0, 3)), [], 5) == 0.0


def test_calibration_error_is_small_for_honest_probabilities_and_large_for_over_confident_ones():
    honest = calibration(*synthetic(1000, 5000, seed=1))
    proud = calibration(*synthetic(1000, 5000, low=0.95, honest=False, seed=1))
    assert honest["ece"] < 0.03
    assert proud["ece"] > 0.15
    assert sum(row["count"] for row in honest["bins"]) == honest["n"] == 5000
    top = proud["bins"][-1]
    assert top["count"] == 5000 and top["confidence"] > 0.95 and top["accuracy"] < 0.8
    assert honest["bins"][0] == {"lower": 0.0, "upper": 0.1, "count": 0, "confidence": None, "accuracy": None}


def test_bad_input_is_refused_with_a_clear_error():
    probabilities, labels = synthetic(5, 20)
    ids, names, faces = list(range(5)), names_for(5), list(range(20))
    with pytest.raises(ValueError, match="expected"):
        evaluate(probabilities[:, :4], labels, class_idol_ids=ids, class_names=names, face_ids=faces)
    with pytest.raises(ValueError, match="class indices"):
        evaluate(probabilities, labels + 5, class_idol_ids=ids, class_names=names, face_ids=faces)
    with pytest.raises(ValueError, match="face ids"):
        evaluate(probabilities, labels, class_idol_ids=ids, class_names=names, face_ids=faces[:3])


def test_few_shot_curve_takes_plain_figures_and_figures_with_their_spread(tmp_path):
    assert fewshot_points({"10": 0.97, "1": 0.62, "3": 0.91}) == [(1, 0.62, None), (3, 0.91, None), (10, 0.97, None)]
    assert fewshot_points({"1": {"top1": 0.6, "sd": 0.05}, "5": 0.95}) == [(1, 0.6, 0.05), (5, 0.95, None)]
    for bad, message in (
        ({}, "non-empty"),
        ({"one": 0.5}, "not a number"),
        ({"1": 1.5}, "from 0 to 1"),
        ({"1": {}}, "no top1"),
    ):
        with pytest.raises(ValueError, match=message):
            fewshot_points(bad)
    # A malformed curve is left out; the other pictures are drawn.
    metrics = evaluate(
        *synthetic(5, 40), class_idol_ids=list(range(5)), class_names=names_for(5), face_ids=list(range(40))
    )
    metrics["fewshot"] = {"1": "high"}
    assert save_evaluation_images(metrics, names_for(5), None, tmp_path) == [CONFUSION_IMAGE, RELIABILITY_IMAGE]


def test_old_metrics_with_a_dense_matrix_still_draw(tmp_path):
    old = {"per_class": [{"name": "A"}, {"name": "B"}], "confusion_matrix": [[3, 1], [0, 4]], "confused_pairs": []}
    matrix, n = confusion_cells(old)
    assert n == 2 and matrix.tolist() == [[3, 1], [0, 4]]
    assert save_evaluation_images(old, ["A", "B"], None, tmp_path) == [CONFUSION_IMAGE]


def test_japanese_names_are_drawn_in_a_font_that_has_their_glyphs(tmp_path):
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    found = cjk_font()
    # The requirements install matplotlib-fontja: a fresh machine draws Japanese without a system font.
    assert found is not None and found[0] == "IPAexGothic", found
    _, path = found
    assert Path(path).resolve().name.lower().startswith(("ipa", "noto", "takao"))
    font = FT2Font(path)
    assert all(font.get_char_index(ord(char)) for char in "".join(JAPANESE_NAMES))
    # The family list every text gets resolves to that file, ahead of the Latin fallback.
    assert font_manager.findfont(font_manager.FontProperties(family=font_families())) == path
    probabilities, labels = synthetic(8, 200, low=0.3)
    metrics = evaluate(
        probabilities, labels, class_idol_ids=list(range(8)), class_names=JAPANESE_NAMES, face_ids=list(range(200))
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_evaluation_images(metrics, JAPANESE_NAMES, None, tmp_path)
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []
    assert (tmp_path / CONFUSION_IMAGE).exists()


def test_without_a_japanese_font_it_draws_anyway_and_says_so_once(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(charts, "CJK_FAMILIES", ("No Such Gothic",))
    monkeypatch.setattr(charts, "_CJK_FILE_STEMS", ("nosuchgothic",))
    cjk_font.cache_clear()
    try:
        probabilities, labels = synthetic(8, 100, low=0.3)
        metrics = evaluate(
            probabilities, labels, class_idol_ids=list(range(8)), class_names=JAPANESE_NAMES, face_ids=list(range(100))
        )
        with (
            caplog.at_level(logging.WARNING, logger="classifier.ml.charts"),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            save_evaluation_images(metrics, JAPANESE_NAMES, None, tmp_path / "one")
            save_evaluation_images(metrics, JAPANESE_NAMES, None, tmp_path / "two")
        assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []
        assert len([r for r in caplog.records if "no Japanese font" in r.getMessage()]) == 1
        assert (tmp_path / "two" / CONFUSION_IMAGE).exists() and font_families() == [charts.LATIN_FALLBACK]
    finally:
        cjk_font.cache_clear()
