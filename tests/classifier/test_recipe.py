"""The recipe's rules (epochs for small sets, old saved recipes), the training-time crop layer,
and the precision of the network on this machine and on another."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.ml import layers, network, precision
from classifier.ml.classifier import Classifier
from classifier.ml.recipe import MAX_EPOCHS, Recipe
from tests.classifier.conftest import TINY, two_class_set


def test_a_small_set_trains_for_enough_steps_and_a_large_one_for_its_epochs():
    recipe = Recipe(epochs=80, min_steps=1000, batch_size=64)
    assert recipe.epochs_for(128) == 500  # 2 steps an epoch
    assert recipe.epochs_for(1700) == 80  # 27 steps an epoch: 2,160 steps already
    assert recipe.epochs_for(1) == MAX_EPOCHS
    assert Recipe(epochs=7, min_steps=0).epochs_for(10) == 7


def test_a_recipe_saved_before_a_field_existed_keeps_its_old_meaning():
    saved = {**TINY.to_dict()}
    del saved["train_crop"], saved["min_steps"]
    old = Recipe.from_dict(saved)
    assert old.train_crop == 0 and old.min_steps == 0 and old.widths == TINY.widths
    assert Recipe.from_dict({}) == Recipe()


def test_train_crop_takes_a_window_per_image_in_training_and_the_centre_at_inference():
    crop = layers.custom_layers()["TrainCrop"](4, seed=3)
    images = np.arange(8 * 6 * 6 * 2, dtype="float32").reshape(8, 6, 6, 2)
    out = np.asarray(crop(images, training=True))
    assert out.shape == (8, 4, 4, 2)
    offsets = set()
    for image, window in zip(images, out, strict=True):
        found = [
            (top, left)
            for top in range(3)
            for left in range(3)
            if np.array_equal(image[top : top + 4, left : left + 4], window)
        ]
        assert len(found) == 1  # a real window of the image, not a blend
        offsets.add(found[0])
    assert len(offsets) > 1  # each image its own shift
    np.testing.assert_array_equal(np.asarray(crop(images, training=False)), images[:, 1:5, 1:5])


def test_precision_policy_follows_the_machine_and_the_setting(monkeypatch):
    monkeypatch.delenv("IDOLSITE_TRAINING_PRECISION", raising=False)
    monkeypatch.setattr(precision, "has_gpu", lambda: False)
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert precision.precision_policy() == "mixed_bfloat16"
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert precision.precision_policy() == "float32"
    monkeypatch.setattr(precision, "has_gpu", lambda: True)
    assert precision.precision_policy() == "mixed_float16"
    monkeypatch.setenv("IDOLSITE_TRAINING_PRECISION", "float32")
    assert precision.precision_policy() == "float32"
    monkeypatch.setenv("IDOLSITE_TRAINING_PRECISION", "float8")
    with pytest.raises(ValueError, match="IDOLSITE_TRAINING_PRECISION"):
        precision.precision_policy()


def _trained(policy: str, monkeypatch, recipe: Recipe = TINY) -> Classifier:
    monkeypatch.setenv("IDOLSITE_TRAINING_PRECISION", policy)
    data, pixels = two_class_set(recipe.input_size)
    clf = Classifier(recipe)
    clf.train(data, pixels=pixels)
    return clf


def test_a_model_trained_in_bfloat16_is_served_in_this_machines_precision(monkeypatch, tmp_path):
    clf = _trained("mixed_bfloat16", monkeypatch)
    assert network.network_policy(clf.model) == "mixed_bfloat16"
    clf.save(tmp_path / "m")
    pixels = np.random.default_rng(2).integers(0, 255, size=(6, 16, 16, 3), dtype=np.uint8)
    expected = clf.predict(pixels)

    monkeypatch.setenv("IDOLSITE_TRAINING_PRECISION", "float32")  # a web machine without bfloat16
    served = Classifier.load(tmp_path / "m")
    assert network.network_policy(served.model) == "float32" and served.precision == "mixed_bfloat16"
    np.testing.assert_allclose(served.predict(pixels), expected, atol=0.03)


def test_a_model_with_the_training_crop_saves_and_loads(monkeypatch, tmp_path):
    recipe = Recipe(
        input_size=20, train_crop=16, widths=(4, 8), convs_per_block=(1, 1), embedding_size=8, epochs=1, batch_size=16
    )
    clf = _trained("float32", monkeypatch, recipe)
    assert clf.model.get_layer("aug_crop") is not None
    clf.save(tmp_path / "m")
    pixels = np.random.default_rng(3).integers(0, 255, size=(4, 20, 20, 3), dtype=np.uint8)
    loaded = Classifier.load(tmp_path / "m")
    assert loaded.recipe.train_crop == 16
    np.testing.assert_allclose(loaded.predict(pixels), clf.predict(pixels), rtol=1e-5, atol=1e-6)


def test_mixed_float16_training_scales_its_loss(monkeypatch):
    """The GPU's precision, run here on the CPU: the optimizer is wrapped for loss scaling
    (the policy is per layer, so Keras' compile would not do it by itself)."""
    clf = _trained("mixed_float16", monkeypatch)
    assert network.network_policy(clf.model) == "mixed_float16"
    assert type(clf.model.optimizer).__name__ == "LossScaleOptimizer"
    pixels = np.random.default_rng(4).integers(0, 255, size=(3, 16, 16, 3), dtype=np.uint8)
    probabilities = clf.predict(pixels)
    assert probabilities.dtype == np.float32 and np.isfinite(probabilities).all()


def test_a_warm_start_copies_the_parent_and_trains_fewer_steps():
    from dataclasses import replace

    import numpy as np

    from classifier.ml.classifier import Classifier
    from tests.classifier.conftest import TINY, two_class_set

    data, pixels = two_class_set(16)
    recipe = replace(TINY, epochs=10, warm_steps=0.2, warm_learning_rate=0.0)
    parent = Classifier(recipe)
    parent.train(data, pixels=pixels)
    seen = []
    child = Classifier(recipe)
    child.train(data, pixels=pixels, start_from=parent, report=seen.append)
    assert seen[-1].epochs == 2  # a fifth of the ten epochs
    # At a learning rate of 0 the weights stay the parent's (batch norm's statistics move on).
    for old, new in zip(parent.model.weights, child.model.weights, strict=True):
        if "kernel" in old.path:
            np.testing.assert_array_equal(np.asarray(old), np.asarray(new))
    assert child.can_start_from(parent, [1, 2])
    assert not child.can_start_from(parent, [2, 1])  # other idols (or the same in another order)
    assert not Classifier(replace(recipe, widths=(8, 8))).can_start_from(parent, [1, 2])
    with pytest.raises(ValueError, match="same idols"):
        Classifier(replace(recipe, embedding_size=4)).train(data, pixels=pixels, start_from=parent)
