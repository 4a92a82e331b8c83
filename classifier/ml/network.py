"""The networks: the product's (VGG-style with batch norm) and the baseline it was measured against.

The dtype policy is set per layer, never globally, so other Keras models of the process (the
face detector) are not affected.
"""

from __future__ import annotations

from typing import Any

from classifier.ml.backend import keras_module
from classifier.ml.layers import augmentation
from classifier.ml.recipe import Recipe, seed_recipe


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
    # dropped-out inputs, which inference does not have).
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
