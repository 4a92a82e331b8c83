"""The project's own Keras layers, loss and metric, and the training-time augmentation."""

from __future__ import annotations

from typing import Any

from classifier.ml.backend import keras_module
from classifier.ml.recipe import Recipe

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
        convolutions run on fewer pixels), the centre one at inference (whole
        images, a size the network never trained on, validate far worse)."""

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
