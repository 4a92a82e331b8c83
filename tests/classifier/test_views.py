from __future__ import annotations

import pytest
from django.urls import reverse

from classifier import services
from classifier.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained_run(two_idols, fake_classifier):
    run = TrainingRun.objects.create()
    services.training_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED
    return run


def test_evaluation_page_answers_200(client, user, trained_run):
    client.force_login(user)
    response = client.get(reverse("classifier:run_detail", args=[trained_run.pk]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Top-1" in text and "Confusion matrix" in text and "Aiko" in text and "(from scratch)" in text
    TrainingRun.objects.filter(pk=trained_run.pk).update(
        metrics={**trained_run.metrics, "warm_start": {"from": 7, "generation": 2}}
    )
    text = client.get(reverse("classifier:run_detail", args=[trained_run.pk])).content.decode()
    assert "a warm start from model 7, 2 in a row" in text
    image = client.get(reverse("classifier:version_image", args=[trained_run.model_version.pk, "confusion.png"]))
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert (
        client.get(reverse("classifier:version_image", args=[trained_run.model_version.pk, "x.png"])).status_code == 404
    )


def test_pages_need_a_login(client, trained_run):
    response = client.get(reverse("classifier:run_detail", args=[trained_run.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_run_list_shows_progress_of_a_running_run(client, user):
    TrainingRun.objects.create(status="running", epoch=3, epochs=10, step=5, steps=10, loss=1.2)
    client.force_login(user)
    response = client.get(reverse("classifier:run_list"))
    assert response.status_code == 200
    assert b"<progress" in response.content and b"epoch 3/10" in response.content


def test_admin_lists_runs_and_models_with_progress(client, admin_user, trained_run):
    client.force_login(admin_user)
    runs = client.get(reverse("admin:classifier_trainingrun_changelist"))
    assert runs.status_code == 200 and b"<progress" in runs.content
    assert client.get(reverse("admin:classifier_trainingrun_change", args=[trained_run.pk])).status_code == 200
    assert client.get(reverse("admin:classifier_modelversion_changelist")).status_code == 200
    version = trained_run.model_version
    assert client.get(reverse("admin:classifier_modelversion_change", args=[version.pk])).status_code == 200


def test_progress_is_a_share_of_all_epochs():
    run = TrainingRun(status="running", epoch=2, epochs=4, step=5, steps=10)
    assert run.progress == pytest.approx(0.375)
    assert TrainingRun(status="succeeded").progress == 1.0


def test_staff_cancel_from_the_run_page(client, user, admin_user):
    run = TrainingRun.objects.create(status="running", heartbeat_at=None)
    client.force_login(user)
    assert client.post(reverse("classifier:run_cancel", args=[run.pk])).status_code == 403
    client.force_login(admin_user)
    page = client.get(reverse("classifier:run_detail", args=[run.pk]))
    assert b"Cancel this run" in page.content
    response = client.post(reverse("classifier:run_cancel", args=[run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.cancel_requested and run.status == TrainingRun.Status.RUNNING  # stops at its next check
