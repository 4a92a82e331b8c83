"""Re-detection never undoes a person's work: hand-drawn faces and exclusions survive it."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from faces import services
from faces.models import Face
from faces.tasks import detect_photo
from labeling import services as label_services
from labeling.models import FaceLabel
from tests.faces.conftest import face
from tests.factories import image_bytes, make_idol, make_photo

pytestmark = pytest.mark.django_db


def _detected_photo(scripted, boxes):
    scripted.faces = [face(*box) for box in boxes]
    photo = make_photo(data=image_bytes(320, 240))
    detect_photo(photo.pk)
    return photo


def test_an_unlabeled_hand_drawn_face_survives_detect_all(scripted):
    photo = _detected_photo(scripted, [(20, 30, 60, 70)])
    drawn = services.face_add_manual(photo=photo, box=(200, 100, 60, 60))
    call_command("detect", "--all", verbosity=0)
    kept = Face.objects.get(pk=drawn.pk)
    assert (kept.box, kept.detector, kept.excluded) == ([200, 100, 60, 60], "manual", False)
    assert photo.faces.count() == 2
    photo.refresh_from_db()
    assert photo.detection_info["kept_hand_drawn"] == 1


def test_a_labeled_hand_drawn_face_keeps_its_row_and_label_and_gets_no_twin(scripted, user):
    photo = _detected_photo(scripted, [(20, 30, 60, 70)])
    drawn = services.face_add_manual(photo=photo, box=(190, 90, 80, 80))
    idol = make_idol()
    label_services.face_label(face=drawn, idol=idol, user=user)
    # The new detector finds the face the person drew (a tighter box): no second face over it.
    scripted.faces = [face(20, 30, 60, 70), face(200, 100, 60, 60)]
    detect_photo(photo.pk, redetect=True)
    assert Face.objects.filter(pk=drawn.pk, detector="manual").exists()
    assert FaceLabel.objects.get(face=drawn).idol == idol
    assert sorted(f.box for f in photo.faces.all()) == [[20, 30, 60, 70], [190, 90, 80, 80]]
    photo.refresh_from_db()
    assert photo.detection_info["under_hand_drawn"] == 1


def test_a_hand_drawn_face_survives_the_first_detection_of_its_photo(scripted):
    scripted.faces = [face(20, 30, 60, 70)]
    photo = make_photo(data=image_bytes(320, 240))
    drawn = services.face_add_manual(photo=photo, box=(200, 100, 60, 60))
    detect_photo(photo.pk)
    assert Face.objects.filter(pk=drawn.pk).exists() and photo.faces.count() == 2


def test_an_excluded_face_stays_excluded_when_found_again(scripted, user):
    photo = _detected_photo(scripted, [(20, 30, 60, 70)])
    label_services.face_exclude(face=photo.faces.get(), reason=Face.ExclusionReason.NOT_A_TARGET, user=user)
    call_command("detect", "--all", verbosity=0)
    again = photo.faces.get()
    assert again.excluded and again.exclusion_reason == Face.ExclusionReason.NOT_A_TARGET


def test_an_excluded_face_the_detector_no_longer_finds_is_kept(scripted, user):
    photo = _detected_photo(scripted, [(20, 30, 60, 70), (150, 40, 50, 50)])
    excluded, plain = photo.faces.order_by("x")
    label_services.face_exclude(face=excluded, reason=Face.ExclusionReason.NOT_A_FACE, user=user)
    scripted.faces = [face(250, 100, 50, 50)]
    detect_photo(photo.pk, redetect=True)
    kept = Face.objects.get(pk=excluded.pk)
    assert kept.excluded and kept.exclusion_reason == Face.ExclusionReason.NOT_A_FACE
    assert not Face.objects.filter(pk=plain.pk).exists()
    # Found again later: the exclusion moves to the new face, as labels do.
    scripted.faces = [face(22, 32, 60, 66)]
    detect_photo(photo.pk, redetect=True)
    successor = photo.faces.get(x=22)
    assert successor.excluded and successor.exclusion_reason == Face.ExclusionReason.NOT_A_FACE
