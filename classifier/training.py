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
from pathlib import Path
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


def cpu_has_bf16() -> bool:
    """The CPU computes bfloat16 natively (AVX-512 BF16 or AMX), as oneDNN then uses it."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: assume not
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def precision_policy() -> str:
    """The dtype policy of this machine: ``IDOLSITE_TRAINING_PRECISION`` when set, else mixed
    float16 on a GPU, mixed bfloat16 on a CPU that computes it natively under TensorFlow
    (oneDNN: about 1.3x faster training and 1.5x faster inference here, see bench/README.md),
    float32 elsewhere (float16 and emulated bfloat16 are slower on a CPU)."""
    wanted = os.environ.get("IDOLSITE_TRAINING_PRECISION", "auto").strip() or "auto"
    if wanted != "auto":
        if wanted not in PRECISIONS:
            raise ValueError(f"IDOLSITE_TRAINING_PRECISION must be auto or one of {', '.join(PRECISIONS)}")
        return wanted
    if has_gpu():
        return "mixed_float16"
    if keras_module().backend.backend() == "tensorflow" and cpu_has_bf16():
        return "mixed_bfloat16"
    return "float32"


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


MAX_EPOCHS = 1000
# Recipe fields added after the first saved models, with the value that means "not used".
ADDED_LATER: dict[str, Any] = {"train_crop": 0, "min_steps": 0, "bn_momentum": 0.99}


# The recipe fields that shape the network's weights (a warm start needs them equal).
NETWORK_FIELDS = ("input_size", "widths", "convs_per_block", "embedding_size")


@dataclass(frozen=True)
class Recipe:
    """How the product model is built and trained (see bench/README.md for why these values)."""

    input_size: int = 64
    train_crop: int = 56  # training sees random windows of this side (0: the whole crop)
    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_block: tuple[int, ...] = (1, 2, 2, 2)
    embedding_size: int = 128
    dropout: float = 0.4
    # Batch norm's moving averages: Keras' 0.99 needs ~500 steps to forget its start (a variance
    # of 1 where the real one is ~0.01), and validation is at chance until then.
    bn_momentum: float = 0.9
    l2: float = 5e-4
    epochs: int = 90
    # A small labeled set (the first rounds of active learning) makes few steps an epoch: it
    # trains for more epochs, up to this many optimizer steps in all (at most MAX_EPOCHS).
    min_steps: int = 0
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    translate: float = 0.0  # shifts with a reflected fill (the crop above shifts for less)
    brightness: float = 0.15
    contrast: float = 0.2
    saturation: float = 0.2
    validation_every: int = 0  # 0: about 20 validations per run
    seed: int = 1234
    # A warm start (the new model begins as a copy of the active one: same idols, same network)
    # trains this fraction of the steps a training from scratch would, at this fraction of the
    # learning rate, with a short warmup (a tenth of its steps) for the new optimizer's state.
    warm_steps: float = 0.3
    warm_learning_rate: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def same_network(self, other: Recipe) -> bool:
        """Whether a model of ``other`` has the weights a model of this recipe needs."""
        return all(getattr(self, name) == getattr(other, name) for name in NETWORK_FIELDS)

    def steps_per_epoch(self, n_train: int) -> int:
        return max(1, math.ceil(n_train / self.batch_size))

    def epochs_for(self, n_train: int) -> int:
        """Epochs of a training on ``n_train`` examples: ``epochs``, or more for a small set
        so that it makes at least ``min_steps`` steps."""
        wanted = math.ceil(self.min_steps / self.steps_per_epoch(n_train)) if self.min_steps else 0
        return max(self.epochs, min(wanted, MAX_EPOCHS))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Recipe:
        # A recipe saved before a field existed trained without it.
        known = {**ADDED_LATER, **values} if values else {}
        known = {k: v for k, v in known.items() if k in cls.__dataclass_fields__}
        for name in ("widths", "convs_per_block"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)


_custom_layers: dict[str, Any] = {}


def custom_layers() -> dict[str, Any]:
    """The project's own Keras layers, defined (and registered for loading) on first use."""
    if _custom_layers:
        return _custom_layers
    keras = keras_module()

    @keras.saving.register_keras_serializable(package="idolsite")
    class TrainCrop(keras.layers.Layer):
        """A ``size`` x ``size`` window of each image: at random in training (each image its
        own shift: the translation augmentation, cheaper than a shift with a fill, and the
        convolutions run on fewer pixels), the centre one at inference. Validation accuracy
        on centre windows was 79% against 58% on whole images at epoch 12 (bench/README.md)."""

        def __init__(self, size: int, seed: int | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.size = size
            self.seed = seed
            self.generator = keras.random.SeedGenerator(seed)

        def call(self, images: Any, training: bool | None = None) -> Any:
            ops = keras.ops
            shape = ops.shape(images)
            n, height, width = shape[0], shape[1], shape[2]
            if not training:
                top, left = (height - self.size) // 2, (width - self.size) // 2
                return images[:, top : top + self.size, left : left + self.size, :]
            window = ops.arange(self.size, dtype="int32")
            top = keras.random.randint((n, 1), 0, height - self.size + 1, dtype="int32", seed=self.generator)
            left = keras.random.randint((n, 1), 0, width - self.size + 1, dtype="int32", seed=self.generator)
            rows = ops.expand_dims(ops.expand_dims(top + window, -1), -1)  # (n, size, 1, 1)
            cols = ops.expand_dims(ops.expand_dims(left + window, 1), -1)  # (n, 1, size, 1)
            images = ops.take_along_axis(images, rows, axis=1)
            return ops.take_along_axis(images, cols, axis=2)

        def compute_output_shape(self, input_shape: Any) -> Any:
            return (input_shape[0], self.size, self.size, *input_shape[3:])

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "size": self.size, "seed": self.seed}

    @keras.saving.register_keras_serializable(package="idolsite")
    class LabelsAndNegativesLoss(keras.losses.Loss):
        """Cross-entropy (label-smoothed) for a row of known class, and for a row known only as
        "not these idols" (the review's rejections: -1 at those classes, 0 elsewhere) the
        complementary-label loss -sum log(1 - p) over them (Yu et al., "Learning with biased
        complementary labels", ECCV 2018; Kim et al., "NLNL: negative learning", ICCV 2019)."""

        def __init__(self, label_smoothing: float = 0.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.label_smoothing = label_smoothing

        def call(self, y_true: Any, y_pred: Any) -> Any:
            ops = keras.ops
            y_true = ops.cast(y_true, "float32")
            p = ops.clip(ops.cast(y_pred, "float32"), 1e-7, 1.0 - 1e-7)
            positive = ops.maximum(y_true, 0.0)
            negative = ops.maximum(-y_true, 0.0)
            known = ops.cast(ops.sum(positive, axis=-1) > 0.0, "float32")
            classes = ops.cast(ops.shape(y_true)[-1], "float32")
            target = positive * (1.0 - self.label_smoothing) + self.label_smoothing / classes
            cross_entropy = -ops.sum(target * ops.log(p), axis=-1)
            complementary = -ops.sum(negative * ops.log(1.0 - p), axis=-1)
            return known * cross_entropy + (1.0 - known) * complementary

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "label_smoothing": self.label_smoothing}

    @keras.saving.register_keras_serializable(package="idolsite")
    class KnownAccuracy(keras.metrics.Metric):
        """Top-1 accuracy over the rows of known class only (negative rows have none)."""

        def __init__(self, name: str = "accuracy", **kwargs: Any) -> None:
            super().__init__(name=name, **kwargs)
            self.right = self.add_variable(shape=(), initializer="zeros", name="right")
            self.known = self.add_variable(shape=(), initializer="zeros", name="known")

        def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
            ops = keras.ops
            y_true = ops.cast(y_true, "float32")
            known = ops.cast(ops.max(y_true, axis=-1) > 0.0, "float32")
            right = ops.cast(ops.argmax(y_true, axis=-1) == ops.argmax(y_pred, axis=-1), "float32") * known
            self.right.assign_add(ops.sum(right))
            self.known.assign_add(ops.sum(known))

        def result(self) -> Any:
            return self.right / keras.ops.maximum(self.known, 1.0)

        def reset_state(self) -> None:
            self.right.assign(0.0)
            self.known.assign(0.0)

    _custom_layers["TrainCrop"] = TrainCrop
    _custom_layers["LabelsAndNegativesLoss"] = LabelsAndNegativesLoss
    _custom_layers["KnownAccuracy"] = KnownAccuracy
    return _custom_layers


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


def augmentation(keras: Any, recipe: Recipe, *, value_range: tuple[float, float] = (0.0, 1.0)) -> list[Any]:
    """Flips, crops (or shifts), brightness, contrast and saturation: active only in training."""
    layers = keras.layers
    seed = recipe.seed
    steps = [layers.RandomFlip("horizontal", seed=seed, name="aug_flip")]
    if recipe.train_crop and recipe.train_crop < recipe.input_size:
        steps.append(custom_layers()["TrainCrop"](recipe.train_crop, seed=seed + 5, name="aug_crop"))
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


def build_network(n_classes: int, recipe: Recipe, *, policy: str = "float32") -> Any:
    """VGG-style with batch norm: blocks of 3x3 convolutions, global pooling, a 128-d embedding.
    ``policy`` is the dtype policy of the network's layers (the augmentation and the softmax
    stay float32); it is set per layer, never globally, so other Keras models of the process
    (the face detector) are not affected."""
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
                width,
                3,
                padding="same",
                use_bias=False,
                kernel_regularizer=reg,
                dtype=policy,
                name=f"conv{block}_{conv}",
            )(x)
            x = layers.BatchNormalization(momentum=recipe.bn_momentum, dtype=policy, name=f"bn{block}_{conv}")(x)
            x = layers.ReLU(dtype=policy, name=f"relu{block}_{conv}")(x)
        x = layers.MaxPooling2D(2, dtype=policy, name=f"pool{block}")(x)
    x = layers.GlobalAveragePooling2D(dtype=policy, name="gap")(x)
    x = layers.Dense(
        recipe.embedding_size, use_bias=False, kernel_regularizer=reg, dtype=policy, name="embedding_dense"
    )(x)
    x = layers.BatchNormalization(momentum=recipe.bn_momentum, dtype=policy, name="embedding_bn")(x)
    x = layers.ReLU(dtype=policy, name="embedding")(x)
    # Dropout after the last batch norm (the usual place: no batch norm learns the variance of
    # dropped-out inputs, which inference does not have). Moving it did not by itself cure the
    # early collapse of validation; the momentum above did (bench/README.md, rows 7-8).
    x = layers.Dropout(recipe.dropout, dtype=policy, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="idol_classifier")


def network_policy(model: Any) -> str:
    """The dtype policy a network was built with (its first convolution's)."""
    keras = keras_module()
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            return layer.dtype_policy.name
    return "float32"


def build_seed_network(n_classes: int, recipe: Recipe | None = None, *, policy: str = "float32") -> Any:
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
        x = layers.Conv2D(
            width, 3, padding="same", activation="relu", kernel_regularizer=reg, dtype=policy, name=f"conv{i}"
        )(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same", dtype=policy, name=f"pool{i}")(x)
    x = layers.Flatten(dtype=policy, name="flatten")(x)
    x = layers.Dense(200, activation="relu", kernel_regularizer=reg, dtype=policy, name="dense0")(x)
    x = layers.Dense(200, activation="relu", kernel_regularizer=reg, dtype=policy, name="embedding")(x)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="seed_network")


def seed_recipe(epochs: int = 40) -> Recipe:
    """The talk's training: Adam 1e-3, batch 64, flips, crops, brightness and contrast."""
    return Recipe(
        input_size=96,
        train_crop=0,
        convs_per_block=(1, 1, 1, 1),
        translate=0.08,
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

        def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self._tick()  # a long validation pass beats too: the run is alive

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
