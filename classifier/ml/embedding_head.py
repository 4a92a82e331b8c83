"""The recognizer on face embeddings: a small Keras head over a pretrained embedder's vectors.

A softmax over the idols (one dense layer on the unit-length vector, trained in seconds), plus
the distance from a face to the nearest labeled face of each idol. A face is "unknown" when
its best class is "other" or when it lies farther than ``max_distance`` from every labeled
face of its best idol: the softmax always names someone, the distance tells a stranger.

Both figures that decide are chosen on held-out faces (the validation split) and stored with
the model: the temperature that calibrates the probabilities (least negative log-likelihood),
and ``max_distance``, the distance under which at most ``false_accept`` of the held-out faces
would be taken for someone else had their own idol never been labeled. The model that is used
is then trained again on every labeled face, held-out ones included: with a handful of faces
an idol, each one counts.

On disk a model is a folder: ``head.keras`` (the dense layer), ``gallery.npz`` (the labeled
vectors and their classes) and ``model.json`` (written last: a folder without it is no model).
No Django here.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.ml.classifier import IncompatibleModel, _write_atomically, read_meta, write_meta
from core.files import make_private_dirs

if TYPE_CHECKING:
    import numpy as np

KIND = "embedding"
FORMAT_VERSION = 1
HEAD_FILE = "head.keras"
GALLERY_FILE = "gallery.npz"
# Distances are computed a block of labeled faces at a time: bounded memory at any gallery size.
GALLERY_BLOCK = 16384


@dataclass(frozen=True)
class HeadRecipe:
    epochs: int = 60
    learning_rate: float = 0.02
    batch_size: int = 512
    # A few labeled faces train for more epochs, up to this many optimizer steps in all.
    min_steps: int = 300
    # The weight penalty, divided by the number of labeled faces: strong with a few labels an
    # idol (close to the mean of her faces), fading as they accumulate (a prior, not a cap).
    l2: float = 0.2
    # Share of strangers the threshold lets through, measured on held-out faces.
    false_accept: float = 0.01
    # Used when too few held-out faces measure it (a fresh install with a few labels): a little
    # under the distance dlib's model was trained to keep one person within, since with a few
    # labels her nearest labeled face is farther than with many.
    default_max_distance: float = 0.55
    min_held_out: int = 40
    max_distance_bounds: tuple[float, float] = (0.3, 0.6)
    seed: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadRecipe:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "max_distance_bounds" in values:
            values["max_distance_bounds"] = tuple(values["max_distance_bounds"])
        return cls(**values)


@dataclass
class HeadPrediction:
    probabilities: np.ndarray  # (n, classes), calibrated
    nearest: np.ndarray  # (n, classes): distance to the class's nearest labeled face (inf: none)
    unknown: np.ndarray  # (n,) bool

    def __len__(self) -> int:
        return len(self.unknown)


@dataclass
class HeldOut:
    """What the held-out faces said: the figures stored with the model and the run."""

    indices: Any = None  # the held-out faces measured (positions in the training data)
    probabilities: Any = None  # (n, classes) calibrated, of the model trained without them
    unknown: Any = None  # (n,) bool
    temperature: float = 1.0
    max_distance: float = 0.5
    max_distance_measured: bool = False
    figures: dict[str, Any] = field(default_factory=dict)


def normalize(vectors: Any) -> np.ndarray:
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    import numpy as np

    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def fit_temperature(logits: Any, labels: Any) -> float:
    """The temperature with the least negative log-likelihood on held-out faces (a 1-D search:
    golden section on log T, which the likelihood is unimodal in)."""
    import numpy as np

    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        p = softmax(logits, math.exp(log_t))
        return float(-np.mean(np.log(np.maximum(p[np.arange(len(labels)), labels], 1e-12))))

    lo, hi = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(40):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return round(math.exp((lo + hi) / 2), 4)


def nearest_by_class(queries: Any, gallery: Any, gallery_labels: Any, n_classes: int) -> np.ndarray:
    """(n, classes): Euclidean distance from each query to the nearest gallery vector of each
    class (inf where a class has none)."""
    import numpy as np

    queries = np.asarray(queries, dtype=np.float32)
    out = np.full((len(queries), n_classes), np.inf, dtype=np.float32)
    if len(queries) == 0 or len(gallery) == 0:
        return out
    order = np.argsort(gallery_labels, kind="stable")
    gallery = np.asarray(gallery, dtype=np.float32)[order]
    labels = np.asarray(gallery_labels, dtype=np.int64)[order]
    q2 = np.einsum("ij,ij->i", queries, queries)[:, None]
    for start in range(0, len(gallery), GALLERY_BLOCK):
        block = gallery[start : start + GALLERY_BLOCK]
        block_labels = labels[start : start + GALLERY_BLOCK]
        squared = q2 - 2.0 * queries @ block.T + np.einsum("ij,ij->i", block, block)[None, :]
        starts = np.flatnonzero(np.r_[True, block_labels[1:] != block_labels[:-1]])
        mins = np.minimum.reduceat(squared, starts, axis=1)
        classes = block_labels[starts]
        out[:, classes] = np.minimum(out[:, classes], np.sqrt(np.maximum(mins, 0.0)))
    return out


class EmbeddingClassifier:
    """Trains, saves, loads and predicts. ``other_class``: the index of the "someone else"
    class (faces people excluded as not a target), or None."""

    kind = KIND
    input_size = 0  # no pixels: it reads vectors

    def __init__(self, recipe: HeadRecipe | None = None, *, embedder: str = "", model_hash: str = "") -> None:
        self.recipe = recipe or HeadRecipe()
        self.embedder = embedder
        self.model_hash = model_hash
        self.model: Any = None
        self.class_idol_ids: list[int | None] = []
        self.class_names: list[str] = []
        self.other_class: int | None = None
        self.temperature = 1.0
        self.max_distance = self.recipe.default_max_distance
        self.gallery: Any = None  # float32 (n, dimension), as the embedder made them
        self.gallery_labels: Any = None
        self.fingerprint = ""
        self.metrics: dict[str, Any] = {}
        self.history: dict[str, list[float | None]] = {}
        self.versions: dict[str, str] = {}
        self.train_seconds = 0.0
        self.dimension = 0

    @property
    def n_classes(self) -> int:
        return len(self.class_idol_ids)

    # --- training ---------------------------------------------------------------------------

    def _fit(self, vectors: Any, labels: Any, negatives: tuple[Any, Any] | None = None) -> tuple[Any, list[float]]:
        """A new dense head fitted to unit vectors; returns it and its loss per epoch.
        ``negatives``: (vectors, rows of 0/1 over the classes they are known not to be)."""
        import numpy as np

        from classifier.ml.backend import keras_module

        keras = keras_module()
        keras.utils.set_random_seed(self.recipe.seed)
        n = self.n_classes
        inputs = keras.Input(shape=(vectors.shape[1],), name="embedding")
        logits = keras.layers.Dense(
            n,
            kernel_regularizer=keras.regularizers.L2(self.recipe.l2 / max(len(vectors), 1)),
            name="logits",
            dtype="float32",
        )(inputs)
        model = keras.Model(inputs, logits, name="idol_embedding_head")
        # One target layout for both kinds of example: column 0 says which. A labeled face is
        # one-hot (cross-entropy); a face people said "not these" for marks those classes, and
        # the loss is -log(1 - their probability): the complementary-label loss.
        x = vectors
        y = np.zeros((len(vectors), n + 1), dtype=np.float32)
        y[:, 0] = 1.0
        y[np.arange(len(vectors)), 1 + np.asarray(labels)] = 1.0
        counts = np.bincount(labels, minlength=n).astype(np.float32)
        # Idols with few faces weigh more (square root: balanced, not flattened): a newcomer
        # with three labels is suggested from the start, not drowned by idols with hundreds.
        weight = (counts.mean() / np.maximum(counts, 1.0)) ** 0.5
        w = weight[np.asarray(labels)]
        if negatives is not None and len(negatives[0]):
            x = np.concatenate([x, negatives[0]])
            rows = np.concatenate([np.zeros((len(negatives[0]), 1), dtype=np.float32), negatives[1]], axis=1)
            y = np.concatenate([y, rows])
            w = np.concatenate([w, np.ones(len(negatives[0]), dtype=np.float32)])

        def loss(target: Any, output: Any) -> Any:
            ops = keras.ops
            positive = target[:, :1]
            classes = target[:, 1:]
            log_p = ops.log_softmax(output, axis=-1)
            p = ops.exp(log_p)
            labeled = -ops.sum(classes * log_p, axis=-1)
            ruled_out = ops.clip(ops.sum(classes * p, axis=-1), 0.0, 1.0 - 1e-6)
            rejected = -ops.log(1.0 - ruled_out)
            return positive[:, 0] * labeled + (1.0 - positive[:, 0]) * rejected

        model.compile(optimizer=keras.optimizers.Adam(self.recipe.learning_rate), loss=loss)
        # train_on_batch in a loop: Keras' fit costs tens of milliseconds an epoch in set-up
        # alone, more than this whole layer's arithmetic.
        rng = np.random.default_rng(self.recipe.seed)
        batch = min(self.recipe.batch_size, len(x))
        x = (x * _SCALE).astype(np.float32)
        losses: list[float] = []
        batches = max(len(x) // batch, 1)
        for _ in range(max(self.recipe.epochs, -(-self.recipe.min_steps // batches))):
            order = rng.permutation(len(x))
            total = 0.0
            for start in range(0, len(x) - batch + 1, batch):
                pick = order[start : start + batch]
                total += float(model.train_on_batch(x[pick], y[pick], sample_weight=w[pick]))
            losses.append(round(total / batches, 5))
        return model, losses

    def train(
        self,
        vectors: Any,
        labels: Any,
        *,
        class_idol_ids: list[int | None],
        class_names: list[str],
        validation: Any,
        fingerprint: str = "",
        other_class: int | None = None,
        negatives: tuple[Any, Any] | None = None,
        should_cancel: Any = None,
    ) -> HeldOut:
        """Fit on the training side, choose the temperature and the distance threshold on the
        validation side, then fit again on every face. Returns the held-out figures (the
        probabilities there are those of the model that had not seen them)."""
        import numpy as np

        from classifier.ml.backend import library_versions

        started = time.monotonic()
        raw = np.asarray(vectors, dtype=np.float32)
        vectors = normalize(raw)
        labels = np.asarray(labels, dtype=np.int64)
        validation = np.asarray(validation, dtype=bool)
        self.class_idol_ids = list(class_idol_ids)
        self.class_names = list(class_names)
        self.other_class = other_class
        self.dimension = int(vectors.shape[1])
        if self.n_classes < 2:
            raise ValueError(f"need at least two classes to train, found {self.n_classes}")
        negatives = (normalize(negatives[0]), np.asarray(negatives[1], dtype=np.float32)) if negatives else None
        held_out = HeldOut(max_distance=self.recipe.default_max_distance)
        train, val = ~validation, validation
        # A held-out face of an idol with no face on the training side cannot be named by the
        # model that measures: it trains instead, unmeasured (else one such face pushes the
        # temperature to its bound and flattens every probability).
        orphans = val & ~np.isin(labels, labels[train])
        train, val = train | orphans, val & ~orphans
        held_out.indices = np.flatnonzero(val)
        if val.any() and len(np.unique(labels[train])) >= 2:
            model, _ = self._fit(vectors[train], labels[train], negatives)
            logits = model.predict_on_batch(vectors[val] * _SCALE)
            held_out.temperature = fit_temperature(logits, labels[val])
            if val.sum() < self.recipe.min_held_out:
                # A few held-out faces, all right, would sharpen the probabilities without end:
                # on little evidence they are only ever softened.
                held_out.temperature = max(held_out.temperature, 1.0)
            held_out.probabilities = softmax(logits, held_out.temperature)
            nearest = nearest_by_class(raw[val], raw[train], labels[train], self.n_classes)
            held_out.max_distance, held_out.max_distance_measured, strangers = self._choose_max_distance(
                nearest, labels[val]
            )
            held_out.unknown = self._unknown(held_out.probabilities, nearest, held_out.max_distance)
            held_out.figures = self._held_out_figures(held_out, labels[val], nearest, strangers)
        if should_cancel is not None and should_cancel():
            from classifier.ml.fitting import TrainingCancelled

            raise TrainingCancelled("training was cancelled")
        self.temperature = held_out.temperature
        self.max_distance = held_out.max_distance
        self.model, losses = self._fit(vectors, labels, negatives)
        self.history = {"loss": losses}
        keep = labels != (other_class if other_class is not None else -1)
        self.gallery = raw[keep]
        self.gallery_labels = labels[keep]
        self.fingerprint = fingerprint
        self.versions = library_versions()
        self.train_seconds = time.monotonic() - started
        return held_out

    def _choose_max_distance(self, nearest: Any, labels: Any) -> tuple[float, bool, Any]:
        """The threshold for ``false_accept`` of strangers. Each held-out face of an idol plays a
        stranger: its distance to the nearest face of any other idol. Held-out faces of "other"
        are strangers as they are."""
        import numpy as np

        own = np.zeros_like(nearest, dtype=bool)
        own[np.arange(len(labels)), labels] = True
        if self.other_class is not None:
            own[:, self.other_class] = True  # "other" is no idol to be taken for
        strangers = np.where(own, np.inf, nearest).min(axis=1)
        strangers = strangers[np.isfinite(strangers)]
        low, high = self.recipe.max_distance_bounds
        if len(strangers) < self.recipe.min_held_out:
            return self.recipe.default_max_distance, False, strangers
        measured = float(np.quantile(strangers, self.recipe.false_accept))
        return round(min(max(measured, low), high), 4), True, strangers

    def _unknown(self, probabilities: Any, nearest: Any, max_distance: float) -> np.ndarray:
        import numpy as np

        best = probabilities.argmax(axis=1)
        far = nearest[np.arange(len(best)), best] > max_distance
        if self.other_class is not None:
            far |= best == self.other_class
        return far

    def _held_out_figures(self, held_out: HeldOut, labels: Any, nearest: Any, strangers: Any) -> dict[str, Any]:
        import numpy as np

        best = held_out.probabilities.argmax(axis=1)
        known = labels != (self.other_class if self.other_class is not None else -1)
        right = best == labels
        accepted = ~held_out.unknown
        return {
            "temperature": held_out.temperature,
            "max_distance": held_out.max_distance,
            "max_distance_measured": held_out.max_distance_measured,
            "false_accept_target": self.recipe.false_accept,
            "strangers_measured": len(strangers),
            "strangers_accepted": round(float(np.mean(strangers <= held_out.max_distance)), 4)
            if len(strangers)
            else None,
            "known_accepted_right": round(float(np.mean((accepted & right)[known])), 4) if known.any() else None,
            "top1": round(float(np.mean(right)), 4),
        }

    # --- use --------------------------------------------------------------------------------

    def predict_vectors(self, vectors: Any) -> HeadPrediction:
        import numpy as np

        if self.model is None:
            raise ValueError("the classifier is not trained")
        if not len(vectors):
            empty = np.zeros((0, self.n_classes), dtype=np.float32)
            return HeadPrediction(empty, empty.copy(), np.zeros(0, dtype=bool))
        raw = np.asarray(vectors, dtype=np.float32)
        unit = normalize(raw)
        logits = np.concatenate(
            [self.model.predict_on_batch(unit[s : s + 4096] * _SCALE) for s in range(0, len(unit), 4096)]
        )
        probabilities = softmax(logits, self.temperature)
        nearest = nearest_by_class(raw, self.gallery, self.gallery_labels, self.n_classes)
        return HeadPrediction(probabilities, nearest, self._unknown(probabilities, nearest, self.max_distance))

    # --- files ------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "embedder": self.embedder,
            "model_hash": self.model_hash,
            "dimension": self.dimension,
            "class_idol_ids": self.class_idol_ids,
            "class_names": self.class_names,
            "other_class": self.other_class,
            "temperature": self.temperature,
            "max_distance": self.max_distance,
            "fingerprint": self.fingerprint,
            "recipe": self.recipe.to_dict(),
            "versions": self.versions,
            "metrics": self.metrics,
            "history": self.history,
            "train_seconds": round(self.train_seconds, 2),
            "saved_at": datetime.now(UTC).isoformat(),
        }

    def save(self, directory: Path) -> None:
        import numpy as np

        if self.model is None:
            raise ValueError("nothing to save: the classifier is not trained")
        make_private_dirs(directory)
        _write_atomically(directory / HEAD_FILE, lambda tmp: self.model.save(tmp))

        def write_gallery(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                np.savez(handle, vectors=self.gallery.astype(np.float32), labels=self.gallery_labels.astype(np.int32))

        _write_atomically(directory / GALLERY_FILE, write_gallery)
        write_meta(directory, self.meta())

    @classmethod
    def load(cls, directory: Path) -> EmbeddingClassifier:
        import numpy as np

        from classifier.ml.backend import keras_module

        meta = read_meta(directory)
        if meta.get("kind") != KIND or meta.get("format_version") != FORMAT_VERSION:
            raise IncompatibleModel(f"{directory}: not an embedding model of format {FORMAT_VERSION}")
        keras = keras_module()
        try:
            model = keras.saving.load_model(directory / HEAD_FILE, compile=False)
            with np.load(directory / GALLERY_FILE) as data:
                gallery, gallery_labels = data["vectors"].astype(np.float32), data["labels"].astype(np.int64)
        except Exception as exc:  # a damaged file, whatever the library raises for it
            raise IncompatibleModel(f"{directory}: {type(exc).__name__}: {exc}") from exc
        classes = meta.get("class_idol_ids") or []
        if model.output_shape[-1] != len(classes) or gallery.shape[1:] != (meta.get("dimension"),):
            raise IncompatibleModel(f"{directory}: the model's shape does not match its JSON")
        clf = cls(
            HeadRecipe.from_dict(meta.get("recipe") or {}), embedder=meta["embedder"], model_hash=meta["model_hash"]
        )
        clf.model = model
        clf.class_idol_ids = classes
        clf.class_names = meta.get("class_names") or [str(c) for c in classes]
        clf.other_class = meta.get("other_class")
        clf.temperature = float(meta.get("temperature") or 1.0)
        clf.max_distance = float(meta.get("max_distance") or clf.recipe.default_max_distance)
        clf.gallery, clf.gallery_labels = gallery, gallery_labels
        clf.dimension = int(meta["dimension"])
        clf.fingerprint = meta.get("fingerprint", "")
        clf.metrics = meta.get("metrics") or {}
        clf.history = meta.get("history") or {}
        clf.versions = meta.get("versions") or {}
        clf.train_seconds = meta.get("train_seconds") or 0.0
        return clf


def fewshot_curve(
    vectors: Any,
    labels: Any,
    validation: Any,
    *,
    sizes: tuple[int, ...] = (1, 3, 5, 10),
    draws: int = 1,
    recipe: HeadRecipe | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Top-1 on the validation faces of a head trained on ``k`` faces an idol (drawn from the
    training side; all of an idol's when she has fewer), for each ``k``, the mean of ``draws``.
    How many labels an idol needs before her suggestions can be trusted."""
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    validation = np.asarray(validation, dtype=bool)
    classes = sorted(set(labels[~validation].tolist()))
    if len(classes) < 2 or not validation.any():
        return {}
    index = {c: i for i, c in enumerate(classes)}
    probe = validation & np.isin(labels, classes)
    truth = np.array([index[c] for c in labels[probe]])
    curve: dict[str, float] = {}
    for k in sizes:
        scores = []
        for draw in range(draws):
            rng = np.random.default_rng(seed + 1000 * draw + k)
            picked = np.concatenate([rng.permutation(np.flatnonzero((labels == c) & ~validation))[:k] for c in classes])
            head = EmbeddingClassifier(recipe or HeadRecipe())
            head.train(
                vectors[picked],
                np.array([index[c] for c in labels[picked]]),
                class_idol_ids=list(range(len(classes))),
                class_names=[str(c) for c in classes],
                validation=np.zeros(len(picked), dtype=bool),
            )
            guess = head.predict_vectors(vectors[probe]).probabilities.argmax(axis=1)
            scores.append(float(np.mean(guess == truth)))
        curve[str(k)] = round(float(np.mean(scores)), 4)
    return curve


# Unit vectors times this give logits a useful range from the first epoch.
_SCALE = 4.0
