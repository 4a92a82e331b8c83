"""No automatic training starts while photos or faces are still coming in, and a recognizer's
first one waits for the labels to settle; the waiting training still happens afterwards (its
one-off schedule checks again); trainings people start never wait."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import QuerySet
from django.utils import timezone
from django_q.models import Schedule

from classifier import tasks
from classifier.models import ModelVersion, Recognizer, TrainingRun
from classifier.services import retraining, runs
from faces.models import FaceEmbedding, Photo
from faces.selectors import current_model
from labeling.models import LabelEvent
from tests.factories import make_embedded_face, make_face, make_photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def labeled(two_idols, settings):
    """Two idols with labels; their photos count as detected (the tests turn detection on)."""
    settings.IDOLSITE_RECOGNIZER = "embedding"
    Photo.objects.update(status=Photo.Status.DETECTED)
    return two_idols


def waiting_check() -> Schedule | None:
    return Schedule.objects.filter(name=retraining.WAIT_SCHEDULE).first()


def embedding_runs() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(recognizer=Recognizer.EMBEDDING)


def test_photos_waiting_for_detection_hold_the_training_back_until_they_are_detected(labeled, settings):
    settings.IDOLSITE_AUTO_DETECT = True
    photos = [make_photo() for _ in range(3)]
    assert retraining.retrain_if_needed() is None
    check = waiting_check()
    assert check is not None and check.func == "classifier.tasks.retrain_after_wait"
    assert check.schedule_type == Schedule.ONCE and check.next_run > timezone.now()
    assert retraining.training_wait(first=True).photos == 3
    assert retraining.training_wait(first=True).reasons() == ["waiting for 3 photos to be detected"]
    assert not TrainingRun.objects.exists()
    # Still waiting for one: the check goes on waiting.
    Photo.objects.filter(pk__in=[p.pk for p in photos[:2]]).update(status=Photo.Status.DETECTED)
    tasks.retrain_after_wait()
    assert not TrainingRun.objects.exists()
    Photo.objects.filter(pk=photos[2].pk).update(status=Photo.Status.FAILED)
    assert tasks.retrain_after_wait().startswith("run ")
    assert embedding_runs().count() == 1


def test_a_photo_being_detected_by_hand_holds_it_back_too(labeled, settings):
    photo = make_photo()  # with automatic detection off, a new photo waits for nobody...
    assert retraining.training_wait(first=False).photos == 0
    Photo.objects.filter(pk=photo.pk).update(detection_claimed_at=timezone.now())  # ...until detect claims it
    assert retraining.training_wait(first=False).photos == 1
    assert retraining.retrain_if_needed() is None


def test_trashed_and_long_stuck_photos_do_not_hold_it_back(labeled, settings):
    from faces import services as face_services

    settings.IDOLSITE_AUTO_DETECT = True
    face_services.photo_trash(photo=make_photo())
    stuck = make_photo()
    Photo.all_objects.filter(pk=stuck.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.IDOLSITE_TRAINING_MAX_WAIT_SECONDS + 1)
    )
    assert not retraining.training_wait(first=True)
    assert retraining.retrain_if_needed() is not None


def test_faces_waiting_for_their_embedding_hold_it_back(labeled, settings):
    settings.IDOLSITE_AUTO_EMBED = True
    make_embedded_face(1.0)
    waiting = [make_face() for _ in range(2)]  # made after the newest embedded face
    Photo.objects.update(status=Photo.Status.DETECTED)
    wait = retraining.training_wait(first=False)
    assert (wait.photos, wait.faces) == (0, 2)
    assert wait.reasons() == ["waiting for 2 faces to get their embeddings"]
    assert retraining.embedding_retrain_soon(reason="labels") is None
    name, model_hash = current_model()
    for face in waiting:
        FaceEmbedding.objects.create(face=face, embedder=name, model_hash=model_hash, error="unreadable crop")
    assert not retraining.training_wait(first=False)
    assert tasks.retrain_after_wait().startswith("run ")


def test_no_face_waits_for_an_embedding_when_nothing_embeds_them(labeled, settings):
    settings.IDOLSITE_AUTO_EMBED = False  # `manage.py embed` by hand: nothing is under way
    make_face()
    assert retraining.training_wait(first=False).faces == 0


def test_the_first_training_waits_for_the_labels_to_settle(labeled, settings):
    settings.IDOLSITE_TRAINING_SETTLE_SECONDS = 60
    wait = retraining.training_wait(first=True)
    assert 55 <= wait.settle_seconds <= 60 and wait.recheck_in() == wait.settle_seconds + 1
    assert wait.reasons() == ["waiting for labels to settle (60 s without a change)"]
    assert retraining.retrain_if_needed() is None
    assert waiting_check().next_run >= timezone.now() + timedelta(seconds=50)
    # A minute without a label later, the check starts it.
    QuerySet.update(LabelEvent.objects.all(), created_at=timezone.now() - timedelta(seconds=61))
    assert not retraining.training_wait(first=True)
    tasks.retrain_after_wait()
    assert embedding_runs().count() == 1


def test_later_trainings_do_not_wait_for_the_labels_to_settle(labeled, settings):
    settings.IDOLSITE_TRAINING_SETTLE_SECONDS = 60
    settings.IDOLSITE_EMBEDDING_AUTO_RETRAIN = True
    ModelVersion.objects.create(
        directory="e1", format_version=1, class_idol_ids=[], input_size=128, fingerprint="e" * 64, val_top1=0.9,
        kind=Recognizer.EMBEDDING, created_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    assert not retraining.first_model(Recognizer.EMBEDDING)
    assert retraining.first_model(Recognizer.NETWORK)
    assert retraining.embedding_retrain_soon(reason="labels") is not None


def test_a_training_people_start_never_waits(labeled, settings):
    settings.IDOLSITE_AUTO_DETECT = True
    settings.IDOLSITE_TRAINING_SETTLE_SECONDS = 60
    make_photo()
    assert retraining.training_wait(first=True)
    run = runs.training_request(reason="manual", recognizer=Recognizer.NETWORK)
    assert run.status == TrainingRun.Status.QUEUED and waiting_check() is None


def test_the_network_waits_as_well(labeled, settings):
    settings.IDOLSITE_RECOGNIZER = "network"
    settings.IDOLSITE_AUTO_DETECT = True
    make_photo()
    assert retraining.retrain_if_needed() is None and waiting_check() is not None
    Photo.objects.update(status=Photo.Status.DETECTED)
    tasks.retrain_after_wait()
    assert TrainingRun.objects.filter(recognizer=Recognizer.NETWORK).count() == 1


def test_the_check_also_retrains_the_embedding_recognizer_beside_the_network(labeled, settings):
    settings.IDOLSITE_RECOGNIZER = "network"
    settings.IDOLSITE_EMBEDDING_AUTO_RETRAIN = True
    settings.IDOLSITE_AUTO_DETECT = True
    photo = make_photo()
    assert retraining.embedding_retrain_soon(reason="labels") is None
    Photo.objects.filter(pk=photo.pk).update(status=Photo.Status.DETECTED)
    tasks.retrain_after_wait()
    assert set(TrainingRun.objects.values_list("recognizer", flat=True)) == {"embedding", "network"}


def test_with_nothing_under_way_it_starts_at_once(labeled):
    assert not retraining.training_wait(first=True)
    assert retraining.retrain_if_needed() is not None and waiting_check() is None


def test_no_face_waits_for_an_embedder_whose_model_file_is_missing(labeled, settings, tmp_path):
    settings.IDOLSITE_AUTO_EMBED = True
    assert retraining.training_wait(first=False).faces > 0  # the labeled faces have no vector
    settings.IDOLSITE_EMBEDDER_MODEL = str(tmp_path / "missing.dat")
    assert retraining.training_wait(first=False).faces == 0


def test_the_admin_starting_one_by_hand_is_told_what_it_misses(labeled, settings, admin_client):
    from django.contrib.messages import get_messages
    from django.urls import reverse

    settings.IDOLSITE_AUTO_DETECT = True
    make_photo()
    old = TrainingRun.objects.create(status=TrainingRun.Status.SUCCEEDED)
    response = admin_client.post(
        reverse("admin:classifier_trainingrun_changelist"), {"action": "train_now", "_selected_action": [old.pk]}
    )
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED).count() == 1  # it did not wait
    assert any("Still importing" in m and "waiting for 1 photo to be detected" in m for m in said), said


def test_a_burst_of_labels_moves_the_waiting_check_without_writing_it_for_each(labeled, settings):
    settings.IDOLSITE_TRAINING_SETTLE_SECONDS = 60
    assert retraining.retrain_if_needed() is None
    first = waiting_check().next_run
    # The labels of the next seconds ask for about the same time: the row is left as it is.
    assert retraining.retrain_if_needed() is None
    assert waiting_check().next_run == first
    # Once the wanted time is more than a few seconds later, it moves.
    Schedule.objects.filter(name=retraining.WAIT_SCHEDULE).update(
        next_run=first - timedelta(seconds=retraining.RECHECK_SLACK_SECONDS + 1)
    )
    assert retraining.retrain_if_needed() is None
    assert waiting_check().next_run >= first
