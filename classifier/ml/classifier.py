"""The classifier: one class that trains, saves, loads and predicts (PL ``documents/classifier.py``).

On disk a model is a folder (written to a temporary place, then stored with its manifest by
``classifier.services.modelfiles``, on local disk or in a bucket)
holding ``model.keras`` and ``model.json`` (format version, the idol id of each class, input
size, data fingerprint, library versions, metrics). Both are written to temporary names and
renamed, the JSON last, so a killed worker never leaves a half-written model: a folder without
its JSON is not a model. A file of another format version, or a corrupt one, is set aside and
the next run retrains.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.ml.recipe import Recipe
from core.files import PRIVATE_FILE, make_private_dirs

if TYPE_CHECKING:
    import numpy as np

    from classifier.ml.dataset import LabeledSet

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
META_FILE = "model.json"


class IncompatibleModel(Exception):
    """The files are not a model this code can use: corrupt, incomplete or of another format."""


def _write_atomically(path: Path, write: Any) -> None:
    """``write(tmp_path)`` then rename over ``path``: readers see the old file or the new one."""
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
    write(tmp)
    tmp.chmod(PRIVATE_FILE)  # before the rename: never visible to others under its final name
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    tmp.replace(path)


def write_meta(directory: Path, meta: dict[str, Any]) -> None:
    """The model's JSON, written last: a folder without it is no model."""
    text = json.dumps(meta, indent=1)
    _write_atomically(directory / META_FILE, lambda tmp: tmp.write_text(text))


def read_meta(directory: Path) -> dict[str, Any]:
    """The model's JSON; raises :class:`IncompatibleModel` when it is missing or unreadable."""
    try:
        meta = json.loads((directory / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise IncompatibleModel(f"{directory / META_FILE}: {exc}") from exc
    if not isinstance(meta, dict):
        raise IncompatibleModel(f"{directory / META_FILE}: not a JSON object")
    return meta


class Classifier:
    """``load_pixels(crop names, size)``: the crops' uint8 pixels, for a training given no
    ``pixels`` and for its negatives (the Django side reads them from the storage)."""

    def __init__(
        self, recipe: Recipe | None = None, *, load_pixels: Callable[[list[str], int], Any] | None = None
    ) -> None:
        self.recipe = recipe or Recipe()
        self.load_pixels = load_pixels
        self.model: Any = None
        self.class_idol_ids: list[int | None] = []
        self.class_names: list[str] = []
        self.fingerprint = ""
        self.metrics: dict[str, Any] = {}
        self.history: dict[str, list[float | None]] = {}
        self.versions: dict[str, str] = {}
        self.train_seconds = 0.0
        self.precision = "float32"  # the dtype policy it was trained with
        self._two_headed: Any = None

    @property
    def input_size(self) -> int:
        return self.recipe.input_size

    # --- training ---------------------------------------------------------------------------

    def train(
        self,
        data: LabeledSet,
        *,
        pixels: np.ndarray | None = None,
        report: Any = None,
        should_cancel: Any = None,
        force: bool = False,
        verbose: int = 0,
        start_from: Classifier | None = None,
    ) -> bool:
        """Train on ``data``; False (and nothing done) when its fingerprint is the one this
        classifier was trained on. ``start_from``: a trained classifier the network starts as a
        copy of (a warm start, shorter; ``can_start_from`` must allow it). Raises
        ``TrainingCancelled`` when asked to stop."""
        import numpy as np

        from classifier.ml.backend import library_versions
        from classifier.ml.fitting import fit
        from classifier.ml.network import build_network
        from classifier.ml.precision import precision_policy

        if not force and self.model is not None and data.fingerprint == self.fingerprint:
            return False
        if data.n_classes < 2:
            raise ValueError(f"need at least two classes to train, found {data.n_classes}")
        if pixels is None:
            pixels = self._pixels(data.crops)
        labels = np.asarray(data.labels, dtype="int32")
        train_idx = np.asarray(data.indices(validation=False), dtype="int64")
        val_idx = np.asarray(data.indices(validation=True), dtype="int64")
        self.precision = precision_policy()
        model = build_network(data.n_classes, self.recipe, policy=self.precision)
        if start_from is not None:
            if not self.can_start_from(start_from, data.class_idol_ids):
                raise ValueError("a warm start needs a model of the same idols and the same network")
            model.set_weights(start_from.model.get_weights())
        negatives = None
        if data.negatives:
            negatives = (self._pixels([n.crop for n in data.negatives]), data.negative_rows())
        started = time.monotonic()
        history = fit(
            model,
            pixels[train_idx],
            labels[train_idx],
            pixels[val_idx],
            labels[val_idx],
            self.recipe,
            report=report,
            should_cancel=should_cancel,
            verbose=verbose,
            negatives=negatives,
            warm=start_from is not None,
        )
        self.train_seconds = time.monotonic() - started
        self.model = model
        self._two_headed = None
        self.history = history
        self.class_idol_ids = list(data.class_idol_ids)
        self.class_names = list(data.class_names)
        self.fingerprint = data.fingerprint
        self.versions = library_versions()
        return True

    def _pixels(self, crops: list[str]) -> Any:
        if self.load_pixels is None:
            raise ValueError("no pixels given and no load_pixels to read the crops")
        return self.load_pixels(crops, self.input_size)

    def can_start_from(self, other: Classifier, class_idol_ids: list[int | None]) -> bool:
        """Whether ``other``'s weights can start a training of this recipe on these classes:
        the same idols in the same order, the same network (a new idol, or another network,
        trains from scratch)."""
        return (
            other.model is not None
            and other.model.name == "idol_classifier"
            and list(other.class_idol_ids) == list(class_idol_ids)
            and self.recipe.same_network(other.recipe)
        )

    # --- use --------------------------------------------------------------------------------

    def predict(self, pixels: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """Class probabilities (n, classes) for uint8 crops of ``input_size``."""
        from classifier.ml.fitting import predict

        return predict(self.model, pixels, batch_size=batch_size)

    def predict_with_embeddings(
        self, pixels: np.ndarray, *, batch_size: int = 256, mirror: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and embeddings (the layer before the softmax) in one pass; with
        ``mirror``, averaged with those of the mirror image (suggestions, "who is in this
        image": the average is right more often on the most confident guesses). The validation
        metric is one pass."""
        from classifier.ml.backend import keras_module
        from classifier.ml.fitting import predict

        if self._two_headed is None:
            keras = keras_module()
            self._two_headed = keras.Model(
                self.model.input, [self.model.output, self.model.get_layer("embedding").output]
            )
        probabilities, embeddings = predict(self._two_headed, pixels, batch_size=batch_size)
        if mirror and len(pixels):
            mirrored, mirrored_embeddings = predict(self._two_headed, pixels[:, :, ::-1], batch_size=batch_size)
            probabilities = (probabilities + mirrored) / 2
            embeddings = (embeddings + mirrored_embeddings) / 2
        return probabilities, embeddings

    def embed(self, pixels: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        return self.predict_with_embeddings(pixels, batch_size=batch_size)[1]

    # --- files ------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "class_idol_ids": self.class_idol_ids,
            "class_names": self.class_names,
            "input_size": self.input_size,
            "fingerprint": self.fingerprint,
            "recipe": self.recipe.to_dict(),
            "versions": self.versions,
            "metrics": self.metrics,
            "history": self.history,
            "train_seconds": round(self.train_seconds, 1),
            "precision": self.precision,
            "saved_at": datetime.now(UTC).isoformat(),
        }

    def save(self, directory: Path) -> None:
        """Write the model, then its JSON, each to a temporary name and renamed into place."""
        if self.model is None:
            raise ValueError("nothing to save: the classifier is not trained")
        make_private_dirs(directory)
        _write_atomically(directory / MODEL_FILE, lambda tmp: self.model.save(tmp))
        write_meta(directory, self.meta())

    @classmethod
    def load(cls, directory: Path) -> Classifier:
        """Read a saved model; raises :class:`IncompatibleModel` when it cannot be used."""
        from classifier.ml.backend import keras_module
        from classifier.ml.layers import custom_layers
        from classifier.ml.network import build_network, network_policy
        from classifier.ml.precision import precision_policy

        meta = read_meta(directory)
        if meta.get("format_version") != FORMAT_VERSION or meta.get("kind", "network") != "network":
            found = meta.get("format_version")
            raise IncompatibleModel(f"{directory}: format version {found!r}, this code reads {FORMAT_VERSION}")
        keras = keras_module()
        custom_layers()  # registered before loading a model that uses them
        try:
            model = keras.saving.load_model(directory / MODEL_FILE, compile=False)
        except Exception as exc:  # Keras raises many kinds for a damaged file
            raise IncompatibleModel(f"{directory / MODEL_FILE}: {type(exc).__name__}: {exc}") from exc
        classes = meta.get("class_idol_ids") or []
        if model.output_shape[-1] != len(classes) or model.input_shape[1] != meta.get("input_size"):
            raise IncompatibleModel(f"{directory}: the model's shape does not match its JSON")
        recipe = Recipe.from_dict(meta.get("recipe") or {})
        local = precision_policy()
        if network_policy(model) != local and model.name == "idol_classifier":
            # Trained elsewhere (float16 on a GPU, bfloat16 on another CPU): the same network in
            # this machine's precision, with the same (float32) weights.
            rebuilt = build_network(len(classes), recipe, policy=local)
            try:
                rebuilt.set_weights(model.get_weights())
            except ValueError as exc:
                raise IncompatibleModel(f"{directory}: its weights do not fit its recipe: {exc}") from exc
            model = rebuilt
        clf = cls(recipe)
        clf.precision = meta.get("precision") or network_policy(model)
        clf.model = model
        clf.class_idol_ids = classes
        clf.class_names = meta.get("class_names") or [str(c) for c in classes]
        clf.fingerprint = meta.get("fingerprint", "")
        clf.metrics = meta.get("metrics") or {}
        clf.history = meta.get("history") or {}
        clf.versions = meta.get("versions") or {}
        clf.train_seconds = meta.get("train_seconds") or 0.0
        return clf


def set_aside(directory: Path) -> Path | None:
    """Move an unusable model folder out of the way (kept for a post-mortem, never loaded)."""
    if not directory.exists():
        return None
    target = directory.with_name(f"{directory.name}.set-aside-{datetime.now(UTC):%Y%m%d-%H%M%S}")
    shutil.move(directory, target)
    log.warning("model files in %s set aside to %s", directory, target)
    return target
