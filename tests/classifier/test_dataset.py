from __future__ import annotations

import pytest

from classifier.dataset import labeled_set
from classifier.ml.dataset import OTHER, VALIDATION_FRACTION, validation_side
from labeling.services import face_label, idol_soft_delete
from tests.classifier.conftest import labeled_faces, not_target_faces
from tests.factories import make_face, make_idol

pytestmark = pytest.mark.django_db


def test_single_label_faces_of_active_idols_are_examples(two_idols):
    data = labeled_set()
    (a, faces_a), (b, faces_b) = two_idols.items()
    assert data.class_idol_ids == sorted([a.pk, b.pk])
    assert sorted(data.face_ids) == sorted(f.pk for f in faces_a + faces_b)
    assert data.class_names == [i.name for i in sorted([a, b], key=lambda i: i.pk)]
    for face_id, label in zip(data.face_ids, data.labels, strict=True):
        expected = a.pk if face_id in {f.pk for f in faces_a} else b.pk
        assert data.class_idol_ids[label] == expected


def test_labeled_set_reads_in_four_queries(two_idols, django_assert_num_queries):
    with django_assert_num_queries(4):  # labels, "other" faces, names, negatives
        labeled_set()


def test_faces_with_several_labels_stay_out(two_idols):
    (_a, faces_a), (b, _) = two_idols.items()
    face_label(face=faces_a[0], idol=b)  # now two people on one crop
    data = labeled_set()
    assert faces_a[0].pk not in data.face_ids
    assert data.left_out["several_labels"] == 1


def test_idol_below_the_minimum_is_left_out(two_idols, settings):
    small = make_idol("Few")
    labeled_faces(small, 2)
    data = labeled_set()
    assert small.pk not in data.class_idol_ids
    assert data.left_out["small_class"] == 2
    settings.IDOLSITE_MIN_FACES_PER_CLASS = 2
    assert small.pk in labeled_set().class_idol_ids


def test_idol_deleted_for_another_reason_leaves_training(two_idols):
    (a, faces_a), (b, _) = two_idols.items()
    idol_soft_delete(idol=a, reason="other")  # graduated ones stay: tests/classifier/test_graduated.py
    data = labeled_set()
    assert data.class_idol_ids == [b.pk]
    assert not set(data.face_ids) & {f.pk for f in faces_a}
    assert data.left_out["deleted_idol"] == len(faces_a)


def test_not_target_faces_form_the_other_class_only_when_enough(two_idols):
    others = not_target_faces(2)
    data = labeled_set()
    assert OTHER not in data.class_idol_ids
    assert data.left_out["other_too_few"] == 2
    others += not_target_faces(1)
    data = labeled_set()
    assert data.class_idol_ids[-1] is OTHER
    other_index = data.n_classes - 1
    assert sorted(f for f, label in zip(data.face_ids, data.labels, strict=True) if label == other_index) == sorted(
        f.pk for f in others
    )


def test_validation_side_depends_only_on_the_face_id():
    sides = {i: validation_side(i) for i in range(1, 5001)}
    assert sides == {i: validation_side(i) for i in range(1, 5001)}  # stable
    share = sum(sides.values()) / len(sides)
    assert abs(share - VALIDATION_FRACTION) < 0.02


def test_a_face_never_changes_side_when_faces_are_added(two_idols):
    before = labeled_set()
    sides = dict(zip(before.face_ids, before.validation, strict=True))
    (a, _), _ = two_idols.items()
    labeled_faces(a, 5)
    labeled_faces(make_idol("New"), 4)
    after = labeled_set()
    assert after.n_classes == 3
    for face_id, side in zip(after.face_ids, after.validation, strict=True):
        if face_id in sides:
            assert sides[face_id] == side


def test_split_is_stratified_per_idol():
    # Every idol's faces go through the same hash threshold: each idol gets ~20% validation.
    for start in range(0, 10_000, 1000):
        share = sum(validation_side(i) for i in range(start, start + 1000)) / 1000
        assert 0.15 < share < 0.25


def test_fingerprint_changes_only_when_the_labeled_set_changes(two_idols):
    first = labeled_set().fingerprint
    assert labeled_set().fingerprint == first
    make_face()  # an unlabeled face changes nothing
    assert labeled_set().fingerprint == first
    (_a, faces_a), (b, _) = two_idols.items()
    face_label(face=faces_a[0], idol=b)
    assert labeled_set().fingerprint != first
