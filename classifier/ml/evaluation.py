"""Evaluation of a trained model on the validation split: figures, calibration and confused pairs.

Everything here stays small at a thousand classes: the confusions are kept as a sparse list of
the largest off-diagonal cells, never as an N x N matrix. The pictures are drawn in
:mod:`classifier.ml.charts`. numpy is imported inside the functions.
"""

from __future__ import annotations

from typing import Any

CONFUSION_IMAGE = "confusion.png"
CURVES_IMAGE = "curves.png"
RELIABILITY_IMAGE = "reliability.png"
FEWSHOT_IMAGE = "fewshot.png"
# The names the version-image view serves; the confusion picture first (tests rely on it).
IMAGES = (CONFUSION_IMAGE, CURVES_IMAGE, RELIABILITY_IMAGE, FEWSHOT_IMAGE)

# Above this many classes a confusion picture is unreadable: it is not drawn, and the sparse
# list is capped at MAX_CONFUSIONS cells. Up to it, every off-diagonal cell is kept, so the
# picture can be drawn from the metrics alone.
CONFUSION_IMAGE_MAX_CLASSES = 40
MAX_CONFUSIONS = 200
CALIBRATION_BINS = 10
# Rows of probabilities compared at a time for top-k: bounds the temporary arrays at any N.
_CHUNK_ROWS = 1024


def top_k_accuracy(probabilities: Any, labels: Any, k: int) -> float:
    """Share of rows whose true class is among the k most probable; ties are broken by class
    index, as ``argmax`` does, so a model that says the same for every class is not rewarded."""
    import numpy as np

    labels = np.asarray(labels, dtype="int64")
    if len(labels) == 0:
        return 0.0
    probabilities = np.asarray(probabilities)
    columns = np.arange(probabilities.shape[1])
    hits = 0
    for start in range(0, len(labels), _CHUNK_ROWS):
        block = probabilities[start : start + _CHUNK_ROWS]
        true = labels[start : start + _CHUNK_ROWS]
        own = block[np.arange(len(true)), true][:, None]
        ahead = (block > own) | ((block == own) & (columns[None, :] < true[:, None]))
        hits += int(np.count_nonzero(ahead.sum(axis=1) < k))
    return hits / len(labels)


def evaluate(
    probabilities: Any,
    labels: Any,
    *,
    class_idol_ids: list[int | None],
    class_names: list[str],
    face_ids: list[int],
    pairs: int = 8,
    examples_per_pair: int = 4,
    max_confusions: int = MAX_CONFUSIONS,
    calibration_bins: int = CALIBRATION_BINS,
) -> dict[str, Any]:
    """Top-1/top-5; per class precision, recall, f1 (0 where undefined, as scikit-learn), support,
    the faces it got right and the faces it was named for; the
    largest off-diagonal confusions as ``[true, predicted, count]`` (class indices); the most
    confused pairs of classes with example validation faces (true A, predicted B); and the
    reliability of the top-1 probability (:func:`calibration`)."""
    import numpy as np

    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels, dtype="int64")
    n = len(class_idol_ids)
    if len(class_names) != n:
        raise ValueError(f"{len(class_names)} class names for {n} classes")
    if len(face_ids) != len(labels):
        raise ValueError(f"{len(face_ids)} face ids for {len(labels)} labels")
    if len(labels) and (probabilities.ndim != 2 or probabilities.shape != (len(labels), n)):
        raise ValueError(f"probabilities of shape {probabilities.shape}; expected ({len(labels)}, {n})")
    if len(labels) and (labels.min() < 0 or labels.max() >= n):
        raise ValueError(f"labels must be class indices from 0 to {n - 1}")
    predicted = probabilities.argmax(axis=1) if len(labels) else np.zeros(0, dtype="int64")

    # The non-zero cells of the confusion matrix, from the pairs seen: O(faces), not O(N^2).
    cells, counts = np.unique(labels * n + predicted, return_counts=True)
    true_of, guess_of = cells // n, cells % n
    support = np.bincount(labels, minlength=n)
    guessed = np.bincount(predicted, minlength=n)
    correct = np.zeros(n, dtype="int64")
    diagonal = true_of == guess_of
    correct[true_of[diagonal]] = counts[diagonal]
    precision = np.divide(correct, guessed, out=np.zeros(n), where=guessed > 0)
    recall = np.divide(correct, support, out=np.zeros(n), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(n), where=both > 0)
    per_class = [
        {
            "idol_id": class_idol_ids[i],
            "name": class_names[i],
            "precision": round(float(precision[i]), 4),
            "recall": round(float(recall[i]), 4),
            "f1": round(float(f1[i]), 4),
            "support": int(support[i]),
            "correct": int(correct[i]),
            "predicted": int(guessed[i]),
        }
        for i in range(n)
    ]

    off = ~diagonal
    off_true, off_guess, off_counts = true_of[off], guess_of[off], counts[off]
    # The largest first; among equals, by class index (a stable order for the same input).
    order = np.lexsort((off_guess, off_true, -off_counts))
    keep = len(order) if n <= CONFUSION_IMAGE_MAX_CLASSES else max_confusions
    confusions = [[int(off_true[i]), int(off_guess[i]), int(off_counts[i])] for i in order[:keep]]

    return {
        "top1": round(float(np.mean(predicted == labels)) if len(labels) else 0.0, 4),
        "top5": round(top_k_accuracy(probabilities, labels, 5), 4),
        "n_validation": len(labels),
        "n_classes": n,
        "per_class": per_class,
        "confusions": confusions,
        "n_confusion_cells": len(order),
        "confused_pairs": _confused_pairs(
            probabilities,
            labels,
            predicted,
            (off_true, off_guess, off_counts),
            class_idol_ids=class_idol_ids,
            class_names=class_names,
            face_ids=face_ids,
            pairs=pairs,
            examples_per_pair=examples_per_pair,
        ),
        "calibration": calibration(probabilities, labels, bins=calibration_bins),
    }


def _confused_pairs(
    probabilities: Any,
    labels: Any,
    predicted: Any,
    off_diagonal: tuple[Any, Any, Any],
    *,
    class_idol_ids: list[int | None],
    class_names: list[str],
    face_ids: list[int],
    pairs: int,
    examples_per_pair: int,
) -> list[dict[str, Any]]:
    """The pairs of classes taken for each other most often (both directions added), the worst
    first, each with a few of its faces."""
    import numpy as np

    true_of, guess_of, counts = off_diagonal
    n = len(class_idol_ids)
    low, high = np.minimum(true_of, guess_of), np.maximum(true_of, guess_of)
    keys, inverse = np.unique(low * n + high, return_inverse=True)
    totals = np.bincount(inverse.ravel(), weights=counts, minlength=len(keys)).astype("int64")
    a_of, b_of = keys // n, keys % n
    order = np.lexsort((b_of, a_of, -totals))[:pairs]
    confused = []
    for i in order:
        a, b = int(a_of[i]), int(b_of[i])
        examples = []
        for true, guess in ((a, b), (b, a)):
            for index in np.flatnonzero((labels == true) & (predicted == guess))[:examples_per_pair]:
                examples.append(
                    {
                        "face_id": int(face_ids[index]),
                        "true": class_names[true],
                        "predicted": class_names[guess],
                        "probability": round(float(probabilities[index, guess]), 3),
                    }
                )
        confused.append(
            {
                "a": {"idol_id": class_idol_ids[a], "name": class_names[a]},
                "b": {"idol_id": class_idol_ids[b], "name": class_names[b]},
                "count": int(totals[i]),
                "examples": examples,
            }
        )
    return confused


def calibration(probabilities: Any, labels: Any, *, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """How far the top-1 probability can be taken at its word: the faces in equal-width bins of
    top-1 probability, with their mean probability and their share predicted right, and the
    expected calibration error (the count-weighted mean gap between the two; 0 is perfect)."""
    import numpy as np

    if bins < 1:
        raise ValueError("bins must be at least 1")
    labels = np.asarray(labels, dtype="int64")
    probabilities = np.asarray(probabilities)
    if len(labels):
        confidence = probabilities.max(axis=1).astype("float64")
        right = (probabilities.argmax(axis=1) == labels).astype("float64")
    else:
        confidence = right = np.zeros(0)
    # Bin i holds (i/bins, (i+1)/bins]; a probability of 0 goes to the first.
    index = np.clip(np.ceil(confidence * bins).astype("int64") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    confidence_sum = np.bincount(index, weights=confidence, minlength=bins)
    right_sum = np.bincount(index, weights=right, minlength=bins)
    rows, ece = [], 0.0
    for i in range(bins):
        row: dict[str, Any] = {"lower": round(i / bins, 4), "upper": round((i + 1) / bins, 4), "count": int(count[i])}
        if count[i]:
            mean_confidence, accuracy = confidence_sum[i] / count[i], right_sum[i] / count[i]
            row["confidence"], row["accuracy"] = round(float(mean_confidence), 4), round(float(accuracy), 4)
            ece += count[i] / len(labels) * abs(accuracy - mean_confidence)
        else:
            row["confidence"] = row["accuracy"] = None
        rows.append(row)
    return {"bins": rows, "ece": round(float(ece), 4), "n": len(labels)}


def confusion_cells(metrics: dict[str, Any]) -> tuple[Any, int] | None:
    """The full confusion matrix of a run's metrics and its number of classes, when the metrics
    hold all of it: the dense ``confusion_matrix`` of older runs, or, up to
    CONFUSION_IMAGE_MAX_CLASSES classes, the diagonal (``correct``) and the sparse cells."""
    import numpy as np

    if metrics.get("confusion_matrix") is not None:
        matrix = np.asarray(metrics["confusion_matrix"], dtype="int64")
        return matrix, len(matrix)
    per_class = metrics.get("per_class") or []
    n = len(per_class)
    if not n or n > CONFUSION_IMAGE_MAX_CLASSES or "confusions" not in metrics:
        return None
    if any("correct" not in row for row in per_class):
        return None
    matrix = np.zeros((n, n), dtype="int64")
    matrix[np.arange(n), np.arange(n)] = [row["correct"] for row in per_class]
    for true, guess, count in metrics["confusions"]:
        matrix[true, guess] = count
    return matrix, n


def fewshot_points(fewshot: Any) -> list[tuple[int, float, float | None]]:
    """``metrics["fewshot"]`` as (labeled faces per idol, top-1, its standard deviation or
    None), fewest first. Accepts ``{"1": 0.62, ...}`` and ``{"1": {"top1": 0.62, "sd": 0.03}}``."""
    if not isinstance(fewshot, dict) or not fewshot:
        raise ValueError("fewshot must be a non-empty mapping of labeled faces per idol to top-1")
    points = []
    for shots, value in fewshot.items():
        try:
            k = int(shots)
        except (TypeError, ValueError):
            raise ValueError(f"fewshot: {shots!r} is not a number of labeled faces") from None
        sd = None
        if isinstance(value, dict):
            if "top1" not in value:
                raise ValueError(f"fewshot[{shots!r}] has no top1")
            sd, value = value.get("sd"), value["top1"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"fewshot[{shots!r}]: top-1 must be a number from 0 to 1, not {value!r}")
        if sd is not None and (isinstance(sd, bool) or not isinstance(sd, int | float) or sd < 0):
            raise ValueError(f"fewshot[{shots!r}]: sd must be a number of at least 0, not {sd!r}")
        if k < 1:
            raise ValueError(f"fewshot: {k} labeled faces per idol; at least 1")
        points.append((k, float(value), None if sd is None else float(sd)))
    return sorted(points)
