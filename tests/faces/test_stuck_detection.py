"""Detection never sticks: a claim left by a killed worker is taken over by the task's retry, or
found by the sweep and queued again (failed with the reason once it happened too often)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from django_q.models import Schedule

from faces import services
from faces.checks import check_detection_claim_timeout
from faces.models import Photo
from faces.services.detection import photo_detection_requeue_lost
from faces.tasks import detect_photo, sweep_detection_claims
from tests.faces.conftest import face
from tests.factories import image_bytes, make_photo

pytestmark = pytest.mark.django_db


def _claimed_by_a_dead_worker(seconds_ago: float, **fields) -> Photo:
    photo = make_photo(data=image_bytes(320, 240))
    assert services.photo_detection_claim(photo_id=photo.pk) is not None
    Photo.all_objects.filter(pk=photo.pk).update(
        detection_claimed_at=timezone.now() - timedelta(seconds=seconds_ago), **fields
    )
    return photo


def test_the_default_claim_timeout_outlives_a_task_and_ends_before_its_retry():
    cluster = django_settings.Q_CLUSTER
    assert cluster["timeout"] < django_settings.IDOLSITE_DETECT_CLAIM_TIMEOUT < cluster["retry"]


def test_the_retry_of_a_killed_detection_takes_the_stale_claim_over(scripted):
    scripted.faces = [face(20, 30, 60, 70)]
    # The broker delivers the task again ``retry`` seconds after the killed worker took it.
    photo = _claimed_by_a_dead_worker(django_settings.Q_CLUSTER["retry"])
    message = detect_photo(photo.pk)
    photo.refresh_from_db()
    assert photo.status == Photo.Status.DETECTED, message
    assert photo.faces.count() == 1 and photo.detection_claim is None and photo.detection_attempts is None


def test_the_sweep_queues_a_stale_claim_again_and_it_is_detected(scripted, django_capture_on_commit_callbacks):
    scripted.faces = [face(20, 30, 60, 70)]
    photo = _claimed_by_a_dead_worker(django_settings.IDOLSITE_DETECT_CLAIM_TIMEOUT + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_detection_claims() == "1 requeued, 0 failed, 0 released"
    photo.refresh_from_db()
    assert photo.status == Photo.Status.DETECTED and photo.faces.count() == 1
    assert photo.detection_claim is None


def test_the_sweep_queues_a_stale_redetection_as_a_redetection(scripted, django_capture_on_commit_callbacks):
    scripted.faces = [face(20, 30, 60, 70)]
    photo = make_photo(data=image_bytes(320, 240))
    detect_photo(photo.pk)
    assert services.photo_detection_claim(photo_id=photo.pk, redetect=True) is not None
    old = timezone.now() - timedelta(seconds=django_settings.IDOLSITE_DETECT_CLAIM_TIMEOUT + 1)
    Photo.all_objects.filter(pk=photo.pk).update(detection_claimed_at=old)
    scripted.faces = [face(150, 40, 50, 50)]
    with django_capture_on_commit_callbacks(execute=True):
        sweep_detection_claims()
    assert [f.box for f in photo.faces.all()] == [[150, 40, 50, 50]]


def test_the_sweep_leaves_a_live_claim_alone(scripted):
    photo = _claimed_by_a_dead_worker(django_settings.Q_CLUSTER["timeout"] - 5)
    assert sweep_detection_claims() == "0 requeued, 0 failed, 0 released"
    photo.refresh_from_db()
    assert photo.detection_claim is not None and photo.status == Photo.Status.NEW


def test_a_photo_interrupted_too_often_fails_with_the_reason(scripted, settings):
    photo = _claimed_by_a_dead_worker(
        settings.IDOLSITE_DETECT_CLAIM_TIMEOUT + 1, detection_attempts=settings.IDOLSITE_DETECT_MAX_ATTEMPTS
    )
    assert "skipped" in detect_photo(photo.pk)  # no retry takes it again
    assert sweep_detection_claims() == "0 requeued, 1 failed, 0 released"
    photo.refresh_from_db()
    assert photo.status == Photo.Status.FAILED and "interrupted 3 times" in photo.error
    assert photo.detection_claim is None and scripted.calls == 0
    # By hand, once the cause is found: it gets its attempts again.
    assert services.photo_detection_claim(photo_id=photo.pk, redetect=True) is not None


def test_the_sweep_runs_on_the_default_clusters_schedule():
    schedule = Schedule.objects.get(func="faces.tasks.sweep_detection_claims")
    assert (schedule.cluster, schedule.repeats) == (django_settings.Q_CLUSTER["name"], -1)
    assert schedule.minutes <= 10


def test_start_up_refuses_a_claim_timeout_not_shorter_than_the_retry(settings):
    assert check_detection_claim_timeout() == []
    settings.IDOLSITE_DETECT_CLAIM_TIMEOUT = settings.Q_CLUSTER["retry"]
    [error] = check_detection_claim_timeout()
    assert error.id == "faces.E001" and "retry" in error.msg
    settings.IDOLSITE_DETECT_CLAIM_TIMEOUT = settings.Q_CLUSTER["timeout"] - 1
    [warning] = check_detection_claim_timeout()
    assert warning.id == "faces.W001"


def _waiting_since(seconds_ago: float) -> Photo:
    photo = make_photo(data=image_bytes(320, 240))
    Photo.all_objects.filter(pk=photo.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds_ago))
    return photo


def test_the_sweep_queues_a_waiting_photo_whose_task_was_lost(scripted, settings, django_capture_on_commit_callbacks):
    # A worker killed with tasks it had taken from the broker: their photos wait, unclaimed.
    scripted.faces = [face(20, 30, 60, 70)]
    settings.IDOLSITE_AUTO_DETECT = True
    lost = _waiting_since(settings.IDOLSITE_DETECT_CLAIM_TIMEOUT + 1)
    recent = _waiting_since(1)
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_detection_claims() == "0 requeued, 0 failed, 0 released, 1 lost photos requeued"
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert lost.status == Photo.Status.DETECTED and lost.faces.count() == 1
    assert recent.status == Photo.Status.NEW


def test_waiting_photos_are_not_queued_again_while_the_queue_still_holds_tasks(scripted, settings, monkeypatch):
    settings.IDOLSITE_AUTO_DETECT = True
    monkeypatch.setattr("faces.backlog.default_queue_empty", lambda: False)
    photo = _waiting_since(settings.IDOLSITE_DETECT_CLAIM_TIMEOUT + 1)
    assert photo_detection_requeue_lost() == 0
    photo.refresh_from_db()
    assert photo.status == Photo.Status.NEW
