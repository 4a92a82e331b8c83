"""Rejections as training negatives: faces known only as "not her" train with the
complementary-label loss; validation and the fingerprint of sets without them are unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.dataset import labeled_set
from classifier.ml.dataset import validation_side
from classifier.ml.fitting import fit, training_targets
from classifier.ml.layers import custom_layers
from classifier.models import SuggestionRejection
from labeling.services import face_exclude, face_label
from tests.classifier.conftest import TINY
from tests.factories import make_face, make_idol


def faces_on_side(n: int, *, validation: bool) -> list:
    out = []
    while len(out) < n:
        face = make_face()
        if validation_side(face.pk) == validation:
            out.append(face)
    return out


@pytest.mark.django_db
def test_rejected_unlabeled_faces_of_the_training_side_are_negatives(two_idols, settings):
    (a, _), (b, faces_b) = two_idols.items()
    before = labeled_set().fingerprint
    train_face, other_train_face = faces_on_side(2, validation=False)
    (val_face,) = faces_on_side(1, validation=True)
    stranger = make_idol("Not a class")  # below the minimum: no class
    for face, idol in [(train_face, a), (other_train_face, b), (val_face, a), (faces_b[0], a), (train_face, stranger)]:
        SuggestionRejection.objects.create(face=face, idol=idol)
    data = labeled_set()
    index = {idol_id: i for i, idol_id in enumerate(data.class_idol_ids)}
    assert [(n.face_id, n.classes) for n in data.negatives] == [
        (train_face.pk, (index[a.pk],)),
        (other_train_face.pk, (index[b.pk],)),
    ]  # not the validation face, not a labeled one, not an idol who is no class
    assert data.negative_rows().tolist() == [[1.0 if i == index[a.pk] else 0.0 for i in range(2)], [0.0, 1.0]]
    assert val_face.pk not in data.face_ids and train_face.pk not in data.face_ids
    assert data.fingerprint != before
    face_label(face=train_face, idol=b)  # now known: a positive, no longer a negative
    face_exclude(face=other_train_face, reason="not_target")  # excluded faces stay out
    data = labeled_set()
    assert data.negatives == [] and train_face.pk in data.face_ids


@pytest.mark.django_db
def test_negatives_off_and_faces_ruled_out_of_every_class(two_idols, settings):
    (a, _), (b, _) = two_idols.items()
    (face,) = faces_on_side(1, validation=False)
    SuggestionRejection.objects.create(face=face, idol=a)
    settings.IDOLSITE_TRAINING_NEGATIVES = False
    assert labeled_set().negatives == []
    settings.IDOLSITE_TRAINING_NEGATIVES = True
    assert len(labeled_set().negatives) == 1
    SuggestionRejection.objects.create(face=face, idol=b)  # neither class: someone else
    assert labeled_set().negatives == []


def test_targets_loss_and_accuracy_of_known_and_negative_rows():
    rows = training_targets([1, 0], 3, [[1, 0, 1]])
    assert rows.tolist() == [[0, 1, 0], [1, 0, 0], [-1, 0, -1]]
    for bad in ([[0, 0, 0]], [[1, 1, 1]], [[2, 0, 0]], [[1, 0]]):
        with pytest.raises(ValueError):
            training_targets([0], 3, bad)
    own = custom_layers()
    p = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.5, 0.2, 0.3]], dtype="float32")
    loss = own["LabelsAndNegativesLoss"](label_smoothing=0.0, reduction=None)
    per_row = np.asarray(loss(rows, p))
    assert per_row == pytest.approx([-np.log(0.7), -np.log(0.6), -np.log(0.5) - np.log(0.7)], rel=1e-5)
    smoothed = np.asarray(own["LabelsAndNegativesLoss"](label_smoothing=0.3, reduction=None)(rows[:1], p[:1]))
    target = np.array([0.1, 0.8, 0.1])
    assert smoothed == pytest.approx([-(target * np.log(p[0])).sum()], rel=1e-5)
    accuracy = own["KnownAccuracy"]()
    accuracy.update_state(rows, p)  # rows 1 and 2 are known and right; the negative row is not counted
    assert float(accuracy.result()) == pytest.approx(1.0)
    accuracy.update_state(rows[:1], p[1:2])
    assert float(accuracy.result()) == pytest.approx(2 / 3)


def test_training_with_negatives_pushes_their_classes_down():
    """Blue faces are never labeled; told "not class 0" they go to class 1, told "not class 1"
    to class 0 (without negatives, where blue goes depends on the random start)."""
    from dataclasses import replace

    from classifier.ml.fitting import predict
    from classifier.ml.network import build_network

    rng = np.random.default_rng(0)

    def tinted(n, channel):  # noisy images of one colour
        images = rng.integers(0, 60, (n, 16, 16, 3))
        images[..., channel] += 160
        return images.astype("uint8")

    x = np.concatenate([tinted(32, 0), tinted(32, 1)])  # class 0 red, class 1 green
    y = np.repeat([0, 1], 32)
    blue = tinted(32, 2)
    recipe = replace(TINY, epochs=30, label_smoothing=0.0)
    unseen = tinted(16, 2)
    not_class = {}
    for rejected in (0, 1):
        rows = np.zeros((32, 2), dtype="float32")
        rows[:, rejected] = 1.0
        network = build_network(2, recipe)
        history = fit(network, x, y, x[::8], y[::8], recipe, negatives=(blue, rows))
        assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert history["val_accuracy"][-1] == 1.0  # the known faces are still learned
        not_class[rejected] = predict(network, unseen)[:, 0].mean()
    assert not_class[1] - not_class[0] > 0.4, not_class


def test_a_classifier_reads_the_crops_of_its_negatives_through_the_loader_it_is_given():
    from classifier.ml.classifier import Classifier
    from classifier.ml.dataset import Negative
    from tests.classifier.conftest import two_class_set

    data, pixels = two_class_set(16)
    data.negatives = [Negative(face_id=100, crop="not-one.jpg", classes=(0,))]
    asked = []

    def load_pixels(crops, size):
        asked.append((list(crops), size))
        return np.zeros((len(crops), size, size, 3), dtype="uint8")

    with pytest.raises(ValueError, match="load_pixels"):  # the ML package cannot read crops itself
        Classifier(TINY).train(data, pixels=pixels)
    assert Classifier(TINY, load_pixels=load_pixels).train(data, pixels=pixels)
    assert asked == [(["not-one.jpg"], 16)]
