from __future__ import annotations

import pytest
from django.urls import reverse

from classifier import services
from classifier.models import TrainingRun
from labeling.roles import assign_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_user(django_user_model):
    def make(role: str | None, *, staff: bool = False):
        user = django_user_model.objects.create_user(username=f"u-{role}-{staff}", password="pw-123456", is_staff=staff)
        if role:
            assign_role(user, role)
        return user

    return make


@pytest.fixture
def viewer(make_user):
    return make_user("viewer")


@pytest.fixture
def trained_run(two_idols, fake_classifier):
    run = TrainingRun.objects.create()
    services.training_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED
    return run


def test_evaluation_page_answers_200(client, viewer, trained_run):
    client.force_login(viewer)
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


def test_run_list_shows_progress_of_a_running_run(client, viewer):
    TrainingRun.objects.create(status="running", epoch=3, epochs=10, step=5, steps=10, loss=1.2)
    client.force_login(viewer)
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


def test_pages_refuse_a_user_without_a_role(client, make_user, trained_run):
    client.force_login(make_user(None))
    version = trained_run.model_version
    for url in (
        reverse("classifier:run_list"),
        reverse("classifier:run_detail", args=[trained_run.pk]),
        reverse("classifier:version_image", args=[version.pk, "confusion.png"]),
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"has no role yet" in response.content and b"Ask an admin" in response.content


def test_admin_role_cancels_from_the_run_page(client, make_user):
    """The same requirement as the API's cancel: the admin role, staff or not."""
    run = TrainingRun.objects.create(status="running", heartbeat_at=None)
    client.force_login(make_user("admin"))
    page = client.get(reverse("classifier:run_detail", args=[run.pk]))
    assert b"Cancel this run" in page.content
    response = client.post(reverse("classifier:run_cancel", args=[run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.cancel_requested and run.status == TrainingRun.Status.RUNNING  # stops at its next check


@pytest.mark.parametrize(("role", "staff"), [(None, True), ("viewer", False), ("labeler", True)])
def test_cancel_needs_the_admin_role_not_staff(client, make_user, role, staff):
    run = TrainingRun.objects.create(status="running", heartbeat_at=None)
    user = make_user(role, staff=staff)
    client.force_login(user)
    if role:
        assert b"Cancel this run" not in client.get(reverse("classifier:run_detail", args=[run.pk])).content
    assert client.post(reverse("classifier:run_cancel", args=[run.pk])).status_code == 403
    run.refresh_from_db()
    assert not run.cancel_requested


def test_superuser_cancels(client, admin_user):
    run = TrainingRun.objects.create(status="running", heartbeat_at=None)
    client.force_login(admin_user)
    assert client.post(reverse("classifier:run_cancel", args=[run.pk])).status_code == 302
    run.refresh_from_db()
    assert run.cancel_requested
