"""Fitting and predicting on numpy arrays, in Keras 3's public API only.

The same code runs on the TensorFlow backend (the default, CPU here) and on a GPU machine with
only JAX (``KERAS_BACKEND=jax``): the model is plain Keras layers, augmentation is made of
Keras preprocessing layers inside the model (they work on every backend and do nothing at
inference), the data are numpy arrays, and progress and cancellation go through a Keras
``Callback``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from classifier.ml.backend import keras_module
from classifier.ml.layers import custom_layers
from classifier.ml.network import network_policy
from classifier.ml.precision import has_gpu
from classifier.ml.recipe import Recipe


def training_targets(labels: Any, n_classes: int, negatives: Any = None) -> Any:
    """The target rows of :func:`fit`: one-hot for each class index of ``labels``, then one row
    per negative: -1 at each class the face is known not to be (``negatives``: rows of 0/1)."""
    import numpy as np

    rows = np.zeros((len(labels), n_classes), dtype="float32")
    rows[np.arange(len(labels)), np.asarray(labels, dtype="int64")] = 1.0
    if negatives is None or len(negatives) == 0:
        return rows
    negatives = np.asarray(negatives, dtype="float32")
    if negatives.shape[1:] != (n_classes,) or not np.isin(negatives, (0.0, 1.0)).all():
        raise ValueError(f"negatives must be rows of 0/1 over the {n_classes} classes")
    if (negatives.sum(axis=1) == 0).any() or (negatives.sum(axis=1) >= n_classes).any():
        raise ValueError("each negative row must rule out at least one class and not all of them")
    return np.concatenate([rows, -negatives])


class TrainingCancelled(Exception):
    """Someone asked to stop; nothing was written."""


@dataclass
class Progress:
    epoch: int = 0  # 1-based epoch in progress
    epochs: int = 0
    step: int = 0
    steps: int = 0
    loss: float | None = None
    val_accuracy: float | None = None
    eta_seconds: float | None = None
    history: dict[str, list[float | None]] = field(default_factory=dict)


def progress_callback(
    *,
    epochs: int,
    steps: int,
    report: Callable[[Progress], None] | None,
    should_cancel: Callable[[], bool] | None,
    every_seconds: float = 3.0,
) -> Any:
    """A Keras callback that reports progress and checks for cancellation every few seconds,
    so the database sees one cheap query per check, not one per step."""
    keras = keras_module()

    class _Callback(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.state = Progress(epochs=epochs, steps=steps)
            self.state.history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
            self.cancelled = False
            self.started = time.monotonic()
            self.last = 0.0

        def _tick(self, force: bool = False) -> None:
            now = time.monotonic()
            if not force and now - self.last < every_seconds:
                return
            self.last = now
            done = (self.state.epoch - 1) * steps + self.state.step
            total = epochs * steps
            if done > 0:
                self.state.eta_seconds = (now - self.started) / done * (total - done)
            if report is not None:
                report(self.state)
            if should_cancel is not None and should_cancel():
                self.cancelled = True
                self.model.stop_training = True

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.state.epoch = epoch + 1
            self.state.step = 0

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.state.step = batch + 1
            if logs and "loss" in logs:
                self.state.loss = float(logs["loss"])
            self._tick()

        def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self._tick()  # a long validation pass still reports and can be cancelled

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            self.state.step = steps
            for key, values in self.state.history.items():
                value = logs.get(key)
                values.append(None if value is None else float(value))
            if logs.get("val_accuracy") is not None:
                self.state.val_accuracy = float(logs["val_accuracy"])
            self._tick(force=True)

    return _Callback()


def fit(
    model: Any,
    x_train: Any,
    y_train: Any,
    x_val: Any,
    y_val: Any,
    recipe: Recipe,
    *,
    report: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    verbose: int = 0,
    negatives: tuple[Any, Any] | None = None,
    warm: bool = False,
) -> dict[str, list[float | None]]:
    """Compile and train ``model`` on uint8 images and class indices. ``negatives`` (images,
    rows of 0/1 over the classes) are faces known only as "not these classes" (the review's
    rejections): they train with the complementary-label loss; without them the loss is the
    plain label-smoothed cross-entropy. ``warm``: the model holds trained weights already (the
    recipe's ``warm_steps`` and ``warm_learning_rate``). Raises :class:`TrainingCancelled` when
    ``should_cancel`` said so. Returns the history."""
    import numpy as np

    keras = keras_module()
    keras.utils.set_random_seed(recipe.seed)
    n_classes = model.output_shape[-1]
    x = np.asarray(x_train, dtype="float32")
    has_negatives = negatives is not None and len(negatives[0]) > 0
    y = training_targets(y_train, n_classes, negatives[1] if has_negatives else None)
    if has_negatives:
        x = np.concatenate([x, np.asarray(negatives[0], dtype="float32")])
        own = custom_layers()
        loss = own["LabelsAndNegativesLoss"](label_smoothing=recipe.label_smoothing)
        metrics: list[Any] = [own["KnownAccuracy"]()]
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
        metrics = ["accuracy"]
    steps = recipe.steps_per_epoch(len(x))
    epochs = recipe.epochs_for(len(x))
    peak = recipe.learning_rate
    if warm:
        epochs = max(1, round(epochs * recipe.warm_steps))
        peak *= recipe.warm_learning_rate
    total = steps * epochs
    warmup = total // 10 if warm else min(steps * recipe.warmup_epochs, total // 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak * (0.1 if warmup else 1.0),
        decay_steps=max(1, total - warmup),
        alpha=0.0,
        warmup_target=peak if warmup else None,
        warmup_steps=warmup,
    )
    if recipe.weight_decay:
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=recipe.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=schedule)
    if network_policy(model) == "mixed_float16":  # the policy is per layer: compile would not see it
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=metrics,
        # XLA is slower than TensorFlow's graph on a CPU; JAX always compiles.
        jit_compile="auto" if keras.backend.backend() != "tensorflow" or has_gpu() else False,
    )
    callback = progress_callback(epochs=epochs, steps=steps, report=report, should_cancel=should_cancel)
    every = recipe.validation_every or max(1, epochs // 20)
    has_val = len(x_val) > 0
    model.fit(
        x,
        y,
        validation_data=(np.asarray(x_val, dtype="float32"), keras.utils.to_categorical(y_val, n_classes))
        if has_val
        else None,
        # Validate every few epochs and always after the last one (the learning curves).
        validation_freq=[e for e in range(1, epochs + 1) if e % every == 0 or e == epochs],
        batch_size=recipe.batch_size,
        epochs=epochs,
        shuffle=True,
        callbacks=[callback],
        verbose=verbose,
    )
    if callback.cancelled:
        raise TrainingCancelled("training was cancelled")
    return callback.state.history


def predict(model: Any, pixels: Any, *, batch_size: int = 256) -> Any:
    """Outputs of ``model`` for uint8 images, in batches, without ``fit``'s per-call overhead."""
    import numpy as np

    if len(pixels) == 0:
        shapes = model.output_shape if isinstance(model.output_shape, list) else [model.output_shape]
        empty = [np.zeros((0, s[-1]), dtype="float32") for s in shapes]
        return empty if isinstance(model.output_shape, list) else empty[0]
    chunks = []
    for start in range(0, len(pixels), batch_size):
        batch = np.asarray(pixels[start : start + batch_size], dtype="float32")
        chunks.append(model.predict_on_batch(batch))
    if isinstance(chunks[0], (list, tuple)):
        return [np.concatenate([np.asarray(c[i]) for c in chunks]).astype("float32") for i in range(len(chunks[0]))]
    return np.concatenate([np.asarray(c) for c in chunks]).astype("float32")
