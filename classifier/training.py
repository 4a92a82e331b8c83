"""The networks and the training loop, in Keras 3's public API only.

The same code runs on the TensorFlow backend (the default, CPU here) and on a GPU machine with
only JAX (``KERAS_BACKEND=jax``): the model is plain Keras layers, augmentation is made of
Keras preprocessing layers inside the model (they work on every backend and do nothing at
inference), the data are numpy arrays, and progress and cancellation go through a Keras
``Callback``. Keras is imported inside the functions, never when this module is imported.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


def keras_module() -> Any:
    """Import Keras, with TensorFlow as the backend unless ``KERAS_BACKEND`` says otherwise."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN kernels: about twice as fast for convolutions on this kind of CPU (AMD, AVX2),
    # where TensorFlow leaves them off by default. Read when TensorFlow is first imported.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    import keras

    return keras


def has_gpu() -> bool:
    keras = keras_module()
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "torch":
            import torch

            return torch.cuda.is_available()
    except Exception:  # a broken GPU driver must not stop a CPU training
        return False
    return False


def configure_precision() -> str:
    """Mixed precision on a GPU, float32 on a CPU (where float16 is slower). Returns the policy."""
    keras = keras_module()
    policy = "mixed_float16" if has_gpu() else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def library_versions() -> dict[str, str]:
    import platform

    import numpy

    keras = keras_module()
    versions = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }
    try:
        backend_module = __import__({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[versions["backend"]])
        versions[versions["backend"]] = backend_module.__version__
    except (ImportError, KeyError):
        pass
    return versions


@dataclass(frozen=True)
class Recipe:
    """How the product model is built and trained (see bench/README.md for why these values)."""

    input_size: int = 64
    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_block: tuple[int, ...] = (2, 2, 2, 2)
    embedding_size: int = 128
    dropout: float = 0.4
    l2: float = 5e-4
    epochs: int = 80
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    translate: float = 0.08
    brightness: float = 0.15
    contrast: float = 0.2
    saturation: float = 0.2
    validation_every: int = 0  # 0: about 20 validations per run
    seed: int = 1234

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Recipe:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        for name in ("widths", "convs_per_block"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)


def augmentation(keras: Any, recipe: Recipe, *, value_range: tuple[float, float] = (0.0, 1.0)) -> list[Any]:
    """Flips, shifts (crops), brightness, contrast and saturation: active only in training."""
    layers = keras.layers
    seed = recipe.seed
    steps = [layers.RandomFlip("horizontal", seed=seed, name="aug_flip")]
    if recipe.translate:
        steps.append(
            layers.RandomTranslation(
                recipe.translate, recipe.translate, fill_mode="reflect", seed=seed + 1, name="aug_shift"
            )
        )
    if recipe.brightness:
        steps.append(
            layers.RandomBrightness(recipe.brightness, value_range=value_range, seed=seed + 2, name="aug_light")
        )
    if recipe.contrast:
        steps.append(
            layers.RandomContrast(recipe.contrast, value_range=value_range, seed=seed + 3, name="aug_contrast")
        )
    if recipe.saturation:
        steps.append(
            layers.RandomSaturation(
                (0.5 - recipe.saturation / 2, 0.5 + recipe.saturation / 2),
                value_range=value_range,
                seed=seed + 4,
                name="aug_saturation",
            )
        )
    return steps


def build_network(n_classes: int, recipe: Recipe) -> Any:
    """VGG-style with batch norm: blocks of 3x3 convolutions, global pooling, a 128-d embedding."""
    keras = keras_module()
    layers = keras.layers
    reg = keras.regularizers.L2(recipe.l2) if recipe.l2 else None
    inputs = keras.Input((recipe.input_size, recipe.input_size, 3), name="pixels")  # uint8 values as floats
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    for step in augmentation(keras, recipe):
        x = step(x)
    for block, (width, convs) in enumerate(zip(recipe.widths, recipe.convs_per_block, strict=True)):
        for conv in range(convs):
            x = layers.Conv2D(
                width, 3, padding="same", use_bias=False, kernel_regularizer=reg, name=f"conv{block}_{conv}"
            )(x)
            x = layers.BatchNormalization(name=f"bn{block}_{conv}")(x)
            x = layers.ReLU(name=f"relu{block}_{conv}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(recipe.dropout, name="dropout")(x)
    x = layers.Dense(recipe.embedding_size, use_bias=False, kernel_regularizer=reg, name="embedding_dense")(x)
    x = layers.BatchNormalization(name="embedding_bn")(x)
    x = layers.ReLU(name="embedding")(x)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="idol_classifier")


def build_seed_network(n_classes: int, recipe: Recipe | None = None) -> Any:
    """The talk's network, the baseline to beat: 96x96x3; 3x3 convolutions of 60, 90, 120 and
    150 filters, each followed by 3x3 stride-2 max pooling; two dense layers of 200; L2 1e-3."""
    keras = keras_module()
    layers = keras.layers
    recipe = recipe or seed_recipe()
    reg = keras.regularizers.L2(1e-3)
    inputs = keras.Input((recipe.input_size, recipe.input_size, 3), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    for step in augmentation(keras, recipe):
        x = step(x)
    for i, width in enumerate((60, 90, 120, 150)):
        x = layers.Conv2D(width, 3, padding="same", activation="relu", kernel_regularizer=reg, name=f"conv{i}")(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(200, activation="relu", kernel_regularizer=reg, name="dense0")(x)
    x = layers.Dense(200, activation="relu", kernel_regularizer=reg, name="embedding")(x)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="seed_network")


def seed_recipe(epochs: int = 40) -> Recipe:
    """The talk's training: Adam 1e-3, batch 64, flips, crops, brightness and contrast."""
    return Recipe(
        input_size=96,
        epochs=epochs,
        learning_rate=1e-3,
        weight_decay=0.0,
        warmup_epochs=0,
        label_smoothing=0.0,
        saturation=0.0,
        l2=1e-3,
    )


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
) -> dict[str, list[float | None]]:
    """Compile and train ``model`` on uint8 images and class indices. Raises
    :class:`TrainingCancelled` when ``should_cancel`` said so. Returns the history."""
    import numpy as np

    keras = keras_module()
    keras.utils.set_random_seed(recipe.seed)
    n_classes = model.output_shape[-1]
    steps = max(1, math.ceil(len(x_train) / recipe.batch_size))
    total = steps * recipe.epochs
    warmup = min(steps * recipe.warmup_epochs, total // 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.learning_rate * (0.1 if warmup else 1.0),
        decay_steps=max(1, total - warmup),
        alpha=0.0,
        warmup_target=recipe.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    if recipe.weight_decay:
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=recipe.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=schedule)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
        # XLA is slower than TensorFlow's graph on a CPU; JAX always compiles.
        jit_compile="auto" if keras.backend.backend() != "tensorflow" or has_gpu() else False,
    )
    callback = progress_callback(epochs=recipe.epochs, steps=steps, report=report, should_cancel=should_cancel)
    every = recipe.validation_every or max(1, recipe.epochs // 20)
    has_val = len(x_val) > 0
    model.fit(
        np.asarray(x_train, dtype="float32"),
        keras.utils.to_categorical(y_train, n_classes),
        validation_data=(np.asarray(x_val, dtype="float32"), keras.utils.to_categorical(y_val, n_classes))
        if has_val
        else None,
        # Validate every few epochs and always after the last one (the learning curves).
        validation_freq=[e for e in range(1, recipe.epochs + 1) if e % every == 0 or e == recipe.epochs],
        batch_size=recipe.batch_size,
        epochs=recipe.epochs,
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
