"""Evaluation of a trained model on the validation split: figures, images and confused pairs.

numpy, scikit-learn and matplotlib are imported inside the functions (matplotlib through its
object API with the Agg canvas: no pyplot state, safe in a worker).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.files import PRIVATE_FILE, make_private_dirs

CONFUSION_IMAGE = "confusion.png"
CURVES_IMAGE = "curves.png"
IMAGES = (CONFUSION_IMAGE, CURVES_IMAGE)


def top_k_accuracy(probabilities: Any, labels: Any, k: int) -> float:
    import numpy as np

    if len(labels) == 0:
        return 0.0
    k = min(k, probabilities.shape[1])
    top = np.argsort(-probabilities, axis=1)[:, :k]
    return float(np.mean(np.any(top == np.asarray(labels)[:, None], axis=1)))


def evaluate(
    probabilities: Any,
    labels: Any,
    *,
    class_idol_ids: list[int | None],
    class_names: list[str],
    face_ids: list[int],
    pairs: int = 8,
    examples_per_pair: int = 4,
) -> dict[str, Any]:
    """Top-1/top-5, per-class precision, recall and support, the confusion matrix, and the
    most-confused pairs of classes with example validation faces (true A, predicted B)."""
    import numpy as np
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.asarray(labels, dtype="int64")
    n = len(class_idol_ids)
    predicted = probabilities.argmax(axis=1) if len(labels) else np.zeros(0, dtype="int64")
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=list(range(n)), zero_division=0
    )
    matrix = confusion_matrix(labels, predicted, labels=list(range(n)))
    per_class = [
        {
            "idol_id": class_idol_ids[i],
            "name": class_names[i],
            "precision": round(float(precision[i]), 4),
            "recall": round(float(recall[i]), 4),
            "f1": round(float(f1[i]), 4),
            "support": int(support[i]),
        }
        for i in range(n)
    ]
    # Confused pairs: both directions added, the worst first.
    both = matrix + matrix.T
    candidates = [(int(both[a, b]), a, b) for a in range(n) for b in range(a + 1, n) if both[a, b] > 0]
    candidates.sort(reverse=True)
    confused = []
    for count, a, b in candidates[:pairs]:
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
                "count": count,
                "examples": examples,
            }
        )
    return {
        "top1": round(top_k_accuracy(probabilities, labels, 1), 4),
        "top5": round(top_k_accuracy(probabilities, labels, 5), 4),
        "n_validation": len(labels),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "confused_pairs": confused,
    }


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save_confusion_image(matrix: list[list[int]], names: list[str], path: Path) -> None:
    import numpy as np

    data = np.asarray(matrix, dtype="float64")
    n = len(names)
    size = max(5.0, 0.45 * n + 2.5)
    figure = _figure(size, size)
    axes = figure.add_subplot()
    rows = data.sum(axis=1, keepdims=True)
    share = np.divide(data, rows, out=np.zeros_like(data), where=rows > 0)
    axes.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    short = [name if len(name) <= 18 else name[:17] + "…" for name in names]
    axes.set_xticks(range(n), short, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(n), short, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if data[i, j]:
                    colour = "white" if share[i, j] > 0.5 else "black"
                    axes.text(j, i, int(data[i, j]), ha="center", va="center", fontsize=7, color=colour)
    axes.set_title("Confusion matrix (validation split; colour: share of the true class)", fontsize=9)
    figure.tight_layout()
    _save(figure, path)


def save_curves_image(history: dict[str, list[float | None]], path: Path) -> None:
    figure = _figure(9, 3.6)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for axes, keys, title in (
        (loss_axes, ("loss", "val_loss"), "loss"),
        (accuracy_axes, ("accuracy", "val_accuracy"), "accuracy"),
    ):
        for key in keys:
            points = [(i + 1, v) for i, v in enumerate(history.get(key) or []) if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                axes.plot(xs, ys, marker="o" if key.startswith("val") else None, markersize=3, label=key)
        axes.set_xlabel("epoch")
        axes.set_title(title)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def _save(figure: Any, path: Path) -> None:

    make_private_dirs(path.parent)
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
    figure.savefig(tmp, format="png")
    tmp.chmod(PRIVATE_FILE)
    tmp.replace(path)
