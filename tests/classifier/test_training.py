from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import IntegrityError
from django.utils import timezone

from classifier import services, tasks
from classifier.dataset import labeled_set
from classifier.models import ModelVersion, Suggestion, TrainingRun
from classifier.services import runs
from core.errors import DomainError
from tests.classifier.conftest import FakeClassifier

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _network(settings):
    """These tests train the network from pixels (the embedding recognizer: test_embedding_recognizer)."""
    settings.IDOLSITE_RECOGNIZER = "network"


def _run(**kwargs) -> TrainingRun:
    run = TrainingRun.objects.create(**kwargs)
    tasks.train(run.pk)
    run.refresh_from_db()
    return run


def test_training_registers_an_active_model_with_its_evaluation(two_idols, fake_classifier, settings):
    run = _run()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = run.model_version
    assert version.is_active and version.fingerprint == labeled_set().fingerprint
    assert (version.path / "model.keras").exists() and (version.path / "model.json").exists()
    assert (version.path / "confusion.png").exists() and (version.path / "curves.png").exists()
    assert {"top1", "top5", "per_class", "confusions", "confused_pairs", "calibration"} <= set(run.metrics)
    assert "confusion_matrix" not in run.metrics  # sparse: a thousand idols would be a million cells
    assert (version.path / "reliability.png").exists() and not (version.path / "fewshot.png").exists()
    assert run.n_classes == 2 and run.n_train + run.n_validation == sum(map(len, two_idols.values()))
    assert run.epoch == 2 and run.history["loss"] and run.heartbeat_at


def test_request_enqueues_on_the_training_cluster(
    two_idols, fake_classifier, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: calls.append((a, k)))
    with django_capture_on_commit_callbacks(execute=True):
        run = services.training_request(reason="test", epochs=3)
    assert calls == [
        (
            ("classifier.tasks.train", run.pk),
            {"cluster": "training", "task_name": f"train-{run.pk}", "timeout": 6 * 3600},
        )
    ]
    assert run.options == {"force": False, "epochs": 3}
    # One training at a time: asking again returns the queued run.
    assert services.training_request(reason="again") == run


def test_no_retrain_when_nothing_changed(two_idols, fake_classifier):
    first = _run()
    assert first.status == TrainingRun.Status.SUCCEEDED, first.error
    second = _run()
    assert second.status == TrainingRun.Status.SUCCEEDED
    assert second.note == "nothing changed since the active model"
    assert ModelVersion.objects.count() == 1
    assert len(fake_classifier) == 1  # the second run built no classifier
    forced = _run(options={"force": True})
    assert ModelVersion.objects.count() == 2 and forced.status == TrainingRun.Status.SUCCEEDED


def test_running_twice_is_safe(two_idols, fake_classifier):
    run = _run()
    tasks.train(run.pk)
    assert ModelVersion.objects.count() == 1
    assert tasks.train(999_999) == "run 999999 is gone"


def test_cancel_a_queued_run_and_a_running_one(two_idols, fake_classifier, monkeypatch):
    queued = TrainingRun.objects.create()
    services.training_cancel(run=queued)
    tasks.train(queued.pk)
    queued.refresh_from_db()
    assert queued.status == TrainingRun.Status.CANCELLED and len(fake_classifier) == 0

    # A running run stops at its next check, and writes nothing.
    original = FakeClassifier.train

    def report_and_cancel(self, data, *, report=None, should_cancel=None, **kwargs):
        TrainingRun.objects.filter(status="running").update(cancel_requested=True)
        return original(self, data, report=report, should_cancel=should_cancel)

    monkeypatch.setattr(FakeClassifier, "train", report_and_cancel)
    run = _run()
    assert run.status == TrainingRun.Status.CANCELLED
    assert not ModelVersion.objects.exists()
    with pytest.raises(DomainError, match="already"):
        services.training_cancel(run=run)


def test_stale_running_run_becomes_failed(settings):
    old = timezone.now() - timezone.timedelta(seconds=settings.IDOLSITE_TRAINING_STALE_SECONDS + 5)
    stale = TrainingRun.objects.create(status="running", heartbeat_at=old, started_at=old)
    assert tasks.fail_stale_runs() == 1
    stale.refresh_from_db()
    assert stale.status == TrainingRun.Status.FAILED
    assert stale.error.startswith(f"the worker stopped (no heartbeat since {old:%Y-%m-%d %H:%M:%S} UTC")


def test_a_fresh_running_run_is_left_alone_and_blocks_a_second():
    TrainingRun.objects.create(status="running", heartbeat_at=timezone.now())
    assert services.fail_stale_runs() == 0
    with pytest.raises(IntegrityError):
        TrainingRun.objects.create(status="running", heartbeat_at=timezone.now())


def test_killed_worker_leaves_no_model(two_idols, fake_classifier, monkeypatch, settings):
    def crash(self, directory):
        directory.mkdir(parents=True)
        (directory / "model.tmp.keras").write_bytes(b"half")
        raise MemoryError("killed")

    monkeypatch.setattr(FakeClassifier, "save", crash)
    run = _run()
    assert run.status == TrainingRun.Status.FAILED and "MemoryError" in run.error
    assert not ModelVersion.objects.exists()


def test_too_few_classes_fails_with_a_clear_error(settings, fake_classifier):
    run = _run()
    assert run.status == TrainingRun.Status.FAILED
    assert "not enough labeled faces" in run.error


def test_new_model_becomes_active_only_when_better_and_pinned_stays(two_idols, fake_classifier, monkeypatch):
    first = _run().model_version
    ModelVersion.objects.filter(pk=first.pk).update(val_top1=1.0)
    second = _run(options={"force": True}).model_version
    assert not second.is_active  # same labels, not better
    ModelVersion.objects.filter(pk=first.pk).update(val_top1=0.01)
    third = _run(options={"force": True}).model_version
    assert third.is_active
    services.model_version_activate(version=second, pin=True)
    ModelVersion.objects.filter(pk=second.pk).update(val_top1=0.0)
    fourth = _run(options={"force": True}).model_version
    assert not fourth.is_active
    assert ModelVersion.objects.get(is_active=True) == second
    with pytest.raises(DomainError, match="active"):
        services.model_version_delete(version=second)
    services.model_version_delete(version=first)
    assert not first.path.exists() and ModelVersion.objects.count() == 3


def test_the_new_model_is_compared_with_the_active_one_on_the_same_faces(two_idols, fake_classifier, monkeypatch):
    import numpy as np

    from tests.classifier.conftest import labeled_faces

    first = _run().model_version
    # The active model's own figure (1.0) was measured on another split: on this run's faces it
    # is right on half of them, and the new model (right on all) replaces it.
    ModelVersion.objects.filter(pk=first.pk).update(val_top1=1.0)
    (a, _), _ = two_idols.items()
    labeled_faces(a, 2)  # the labels changed

    class HalfRight:
        input_size = 16
        class_idol_ids = list(first.class_idol_ids)

        def predict(self, pixels, batch_size=256):
            out = np.zeros((len(pixels), 2), dtype="float32")
            out[:, 0] = 1.0  # always the first idol
            return out

    monkeypatch.setattr(runs, "_comparison_classifier", lambda version: HalfRight())
    data = labeled_set()
    val = data.indices(validation=True)
    # A face labeled by accepting the active model's own suggestion is left out of the comparison.
    chosen = data.face_ids[val[0]]
    Suggestion.objects.create(
        face_id=chosen, model_version=first, idol_id=first.class_idol_ids[0], probability=0.9, margin=0.8,
        top=[], status=Suggestion.Status.ACCEPTED,
    )  # fmt: skip
    run = _run()
    second = run.model_version
    kept = val[1:]
    expected = sum(data.class_idol_ids[data.labels[i]] == first.class_idol_ids[0] for i in kept) / len(kept)
    assert run.metrics["active_on_this_split"] == {
        "version": first.pk,
        "kind": "network",
        "faces": len(kept),
        "top1": round(expected, 4),
        "new_top1": 1.0,
        "only_active_right": 0,
        "only_new_right": round((1 - expected) * len(kept)),
    }
    assert second.is_active and expected < 1.0
    # An active model right on every face of the split stays, whatever its own figure.

    class AllRight(HalfRight):
        def predict(self, pixels, batch_size=256):
            return np.asarray(fake_classifier[-1].predict(pixels)) + 0.1

    monkeypatch.setattr(runs, "_comparison_classifier", lambda version: AllRight())
    ModelVersion.objects.filter(pk=second.pk).update(val_top1=0.0)
    third = _run(options={"force": True}).model_version
    assert not third.is_active  # same labels, a tie: the active one stays
    labeled_faces(a, 1)
    assert _run().model_version.is_active  # the labels changed: not clearly worse is enough
    # A model that cannot be loaded for the comparison never fails the training.
    monkeypatch.setattr(runs, "_comparison_classifier", lambda version: 1 / 0)
    assert _run(options={"force": True}).status == TrainingRun.Status.SUCCEEDED


def test_a_model_of_changed_labels_must_not_be_clearly_worse_on_the_same_faces():
    assert not services.clearly_worse(3, 0)  # three faces: chance (2 * sqrt(3) = 3.5)
    assert not services.clearly_worse(5, 2)
    assert services.clearly_worse(5, 0)
    assert services.clearly_worse(20, 5)
    assert not services.clearly_worse(0, 0) and not services.clearly_worse(0, 9)


def test_retrain_once_enough_labels_changed(two_idols, fake_classifier, settings):
    from tests.classifier.conftest import labeled_faces

    settings.IDOLSITE_RETRAIN_MIN_CHANGES = 3
    assert services.retrain_if_needed() is not None  # no model yet
    TrainingRun.objects.all().delete()
    _run()
    assert services.retrain_if_needed() is None
    (a, _), _ = two_idols.items()
    labeled_faces(a, 3)
    run = services.retrain_if_needed()
    assert run is not None and run.reason.startswith("schedule")


def test_train_command_here(two_idols, fake_classifier, capsys):
    call_command("train", "--here", "--epochs", "2", verbosity=0)
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED and run.options["epochs"] == 2


def test_a_training_starts_from_the_active_model_until_the_chain_ends(
    two_idols, fake_classifier, monkeypatch, settings
):
    import numpy as np

    from tests.classifier.conftest import labeled_faces

    settings.IDOLSITE_TRAINING_WARM_CHAIN = 2
    loaded = {}

    class Loaded(FakeClassifier):
        def predict(self, pixels, *, batch_size=256):  # always the first idol: each new model wins
            return np.eye(len(self.class_idol_ids), dtype="float32")[np.zeros(len(pixels), dtype=int)]

    def parent(version):  # the active model, as loaded for the start and the comparison
        clf = loaded.setdefault(version.pk, Loaded())
        clf.class_idol_ids = list(version.class_idol_ids)
        return clf

    monkeypatch.setattr(runs, "_comparison_classifier", parent)
    first = _run()
    assert first.metrics["warm_start"] is None and fake_classifier[-1].started_from is None
    v1 = first.model_version
    second = _run(options={"force": True})
    assert second.metrics["warm_start"] == {"from": v1.pk, "generation": 1}
    assert fake_classifier[-1].started_from is loaded[v1.pk]
    assert second.model_version.metrics["warm_start"] == {"from": v1.pk, "generation": 1}
    assert second.model_version.is_active
    third = _run(options={"force": True})
    assert third.metrics["warm_start"] == {"from": second.model_version.pk, "generation": 2}
    # The chain of two warm starts ended: from scratch. That model is not better (an admin pinned
    # the active one) but the chain counts trainings: the next one starts warm again.
    services.model_version_activate(version=third.model_version)  # pinned
    fourth = _run(options={"force": True})
    assert fourth.metrics["warm_start"] is None and fake_classifier[-1].started_from is None
    assert not fourth.model_version.is_active
    fifth = _run(options={"force": True})
    assert fifth.metrics["warm_start"] == {"from": third.model_version.pk, "generation": 1}
    # Asked for, or a new idol (the classes changed): from scratch.
    assert _run(options={"force": True, "scratch": True}).metrics["warm_start"] is None
    assert services.training_request(reason="t", scratch=True).options == {"force": False, "scratch": True}
    TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED).delete()
    assert _run(options={"force": True}).metrics["warm_start"]["generation"] == 1
    from tests.factories import make_idol

    labeled_faces(make_idol("Chiyo"), 8)
    assert _run().metrics["warm_start"] is None
    settings.IDOLSITE_TRAINING_WARM_CHAIN = 0  # off
    assert _run(options={"force": True}).metrics["warm_start"] is None


def test_the_api_and_the_command_ask_for_a_training_from_scratch(user, monkeypatch):
    from rest_framework.test import APIClient

    from labeling.roles import assign_role

    monkeypatch.setattr(runs, "_enqueue", lambda run_id: None)
    assign_role(user, "admin")
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/training-runs/", {"scratch": True}, format="json")
    assert response.status_code == 202, response.content
    assert TrainingRun.objects.get(pk=response.json()["id"]).options == {"force": False, "scratch": True}
    TrainingRun.objects.all().delete()
    call_command("train", "--scratch")
    assert TrainingRun.objects.get().options == {"force": False, "scratch": True}


def _admin_client(user):
    from rest_framework.test import APIClient

    from labeling.roles import assign_role

    assign_role(user, "admin")
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_killed_training_is_found_within_minutes(settings):
    from django_q.models import Schedule

    assert settings.IDOLSITE_TRAINING_STALE_SECONDS <= 300
    assert Schedule.objects.get(func="classifier.tasks.fail_stale_runs").minutes <= 5


def test_a_request_after_a_dead_run_starts_a_new_run(user, settings, monkeypatch):
    monkeypatch.setattr(runs, "_enqueue", lambda run_id: None)
    old = timezone.now() - timezone.timedelta(seconds=settings.IDOLSITE_TRAINING_STALE_SECONDS + 5)
    dead = TrainingRun.objects.create(status="running", heartbeat_at=old, started_at=old)
    response = _admin_client(user).post("/api/training-runs/", {}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["id"] != dead.pk and response.json()["status"] == "queued"
    dead.refresh_from_db()
    assert dead.status == TrainingRun.Status.FAILED and "no heartbeat since" in dead.error
    call_command("train")  # the queued one is returned now: one training at a time
    assert TrainingRun.objects.count() == 2


def test_a_live_run_still_blocks_a_second_request(user, monkeypatch):
    monkeypatch.setattr(runs, "_enqueue", lambda run_id: None)
    live = TrainingRun.objects.create(status="running", heartbeat_at=timezone.now(), started_at=timezone.now())
    response = _admin_client(user).post("/api/training-runs/", {}, format="json")
    assert response.status_code == 202 and response.json()["id"] == live.pk
    assert TrainingRun.objects.count() == 1 and TrainingRun.objects.get().status == TrainingRun.Status.RUNNING


def test_a_worker_whose_run_was_failed_by_the_sweep_stops_and_registers_nothing(
    two_idols, fake_classifier, monkeypatch
):
    original = FakeClassifier.train

    def slow_then_swept(self, data, *, report=None, should_cancel=None, **kwargs):
        TrainingRun.objects.filter(status="running").update(heartbeat_at=timezone.now() - timezone.timedelta(hours=1))
        services.fail_stale_runs()
        return original(self, data, report=report, should_cancel=should_cancel)

    monkeypatch.setattr(FakeClassifier, "train", slow_then_swept)
    run = _run()
    assert run.status == TrainingRun.Status.FAILED and "no heartbeat since" in run.error
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_worker_busy_in_a_phase_without_progress_still_beats():
    """Decoding a million crops reports no progress for minutes: the worker's heartbeat thread
    keeps the run alive for the sweep, and stops beating when the run ends."""
    import time

    old = timezone.now() - timezone.timedelta(hours=1)
    run = TrainingRun.objects.create(status="running", heartbeat_at=old, started_at=old)
    with runs._Heartbeat(run.pk, every=0.05):
        time.sleep(0.5)
        assert services.fail_stale_runs(seconds=60) == 0
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING and run.heartbeat_at > old
    beat = run.heartbeat_at
    time.sleep(0.2)
    run.refresh_from_db()
    assert run.heartbeat_at == beat
