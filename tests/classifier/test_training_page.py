"""The training page in the site's own layout: runs with progress and ETA, starting a training
(admins; one of a recognizer at a time), the models with their figures and activation, and the
links to it from the header and from the pages that need a model."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from classifier.models import ModelVersion, TrainingRun
from classifier.templatetags.classifier_tags import duration
from labeling.roles import assign_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_role(client, django_user_model):
    def sign_in(role: str):
        user = django_user_model.objects.create_user(username=f"u-{role}", password="pw-123456")
        assign_role(user, role)
        client.force_login(user)
        return user

    return sign_in


def make_version(*, top1: float, active: bool = False, pinned: bool = False, run: TrainingRun | None = None):
    return ModelVersion.objects.create(
        run=run,
        directory=f"v{ModelVersion.objects.count()}-{top1}",
        format_version=1,
        class_idol_ids=[1, 2, 3],
        input_size=16,
        fingerprint="f" * 64,
        val_top1=top1,
        metrics={"top1": top1, "top5": 0.99, "n_validation": 120},
        is_active=active,
        pinned=pinned,
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_page_wears_the_sites_layout_with_the_header_link(client, as_role):
    as_role("viewer")
    text = client.get(reverse("classifier:run_list")).content.decode()
    assert '<header class="top">' in text and "Django administration" not in text and 'id="site-name"' not in text
    link = f'<a href="{reverse("classifier:run_list")}" aria-current="page">Training</a>'
    assert link in text
    # Every labeling page links it from the header.
    grid = client.get(reverse("labeling:grid")).content.decode()
    assert f'href="{reverse("classifier:run_list")}"' in grid


def test_runs_show_progress_eta_and_status_and_models_their_figures(client, as_role, django_assert_num_queries):
    as_role("viewer")
    running = TrainingRun.objects.create(
        status="running", recognizer="network", epoch=2, epochs=10, step=5, steps=10, eta_seconds=750
    )
    done = TrainingRun.objects.create(
        status="succeeded",
        n_classes=3,
        metrics={"top1": 0.8123, "calibration": {"ece": 0.0421, "bins": []}, "per_class": [{"name": "x"}] * 50},
    )
    make_version(top1=0.8123, active=True, run=done)
    make_version(top1=0.5)
    with django_assert_num_queries(6):  # session, user, role (permissions x2), runs, models
        response = client.get(reverse("classifier:run_list"))
    text = response.content.decode()
    assert "epoch 2/10, step 5/10" in text and "about 12 minutes left" in text
    assert f'<a href="{reverse("classifier:run_detail", args=[running.pk])}">#{running.pk}</a>' in text
    assert "Running" in text and "Succeeded" in text and "0.812" in text
    assert "0.042" in text and "0.990" in text and "120" in text  # ECE, top-5, validation faces
    assert "Active model: <strong>Model" in text
    assert "data-refresh" in text  # a run in progress: the page follows it
    # Viewers start, cancel and activate nothing.
    assert reverse("classifier:run_start") not in text and "Activate and pin" not in text and "Cancel" not in text


def test_an_admin_starts_a_training_once(client, as_role):
    admin = as_role("admin")
    page = client.get(reverse("classifier:run_list")).content.decode()
    assert f'action="{reverse("classifier:run_start")}"' in page and 'value="network"' in page
    response = client.post(reverse("classifier:run_start"), {"recognizer": "network"})
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("classifier:run_detail", args=[run.pk])
    assert run.recognizer == "network" and run.requested_by == admin and run.status == "queued"
    assert messages_of(response) == [f"{run} queued."]
    again = client.post(reverse("classifier:run_start"), {"recognizer": "network"})
    assert TrainingRun.objects.count() == 1
    assert "already queued or training: no second one was started" in messages_of(again)[-1]
    bad = client.post(reverse("classifier:run_start"), {"recognizer": "crystal ball"})
    assert bad.status_code == 302 and "unknown recognizer" in messages_of(bad)[-1]
    assert TrainingRun.objects.count() == 1


@pytest.mark.parametrize("role", ["viewer", "labeler"])
def test_only_admins_start_or_activate(client, as_role, role):
    as_role(role)
    version = make_version(top1=0.7)
    assert client.post(reverse("classifier:run_start"), {"recognizer": "network"}).status_code == 403
    assert client.post(reverse("classifier:version_activate", args=[version.pk])).status_code == 403
    assert not TrainingRun.objects.exists()
    version.refresh_from_db()
    assert not version.is_active


def test_an_admin_activates_pins_and_unpins_a_model(client, as_role):
    as_role("admin")
    old = make_version(top1=0.9, active=True)
    new = make_version(top1=0.6)
    text = client.get(reverse("classifier:run_list")).content.decode()
    assert f'action="{reverse("classifier:version_activate", args=[new.pk])}"' in text
    assert reverse("classifier:version_activate", args=[old.pk]) not in text  # active already
    response = client.post(reverse("classifier:version_activate", args=[new.pk]))
    assert response.status_code == 302 and response["Location"].endswith("#models")
    new.refresh_from_db()
    old.refresh_from_db()
    assert new.is_active and new.pinned and not old.is_active
    assert "is active and pinned" in messages_of(response)[0]
    text = client.get(reverse("classifier:run_list")).content.decode()
    assert "active, pinned" in text and reverse("classifier:version_unpin", args=[new.pk]) in text
    client.post(reverse("classifier:version_unpin", args=[new.pk]))
    new.refresh_from_db()
    assert new.is_active and not new.pinned
    aside = make_version(top1=0.5)
    ModelVersion.objects.filter(pk=aside.pk).update(set_aside=True)
    refused = client.post(reverse("classifier:version_activate", args=[aside.pk]))
    assert "set aside" in messages_of(refused)[-1]
    assert client.post(reverse("classifier:version_activate", args=[999999])).status_code == 404


def test_empty_states_lead_to_training(client, as_role):
    as_role("admin")
    text = client.get(reverse("classifier:run_list")).content.decode()
    assert "No training yet: label a few faces of two idols or more, then start one above." in text
    assert "No model yet" in text
    review = client.get(reverse("classifier:review")).content.decode()
    assert f'No active model yet: <a href="{reverse("classifier:run_list")}">train one first</a>.' in review


def test_the_run_page_is_in_the_sites_layout_and_follows_a_running_run(client, as_role):
    as_role("admin")
    run = TrainingRun.objects.create(status="running", epoch=1, epochs=4, step=1, steps=2, eta_seconds=30)
    text = client.get(reverse("classifier:run_detail", args=[run.pk])).content.decode()
    assert '<header class="top">' in text and "about 30 seconds left" in text
    assert "data-refresh" in text and "classifier/training.js" in text and "Cancel this run" in text
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded")
    assert "data-refresh" not in client.get(reverse("classifier:run_detail", args=[run.pk])).content.decode()


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (None, ""),
        ("x", ""),
        (0, "0 seconds"),
        (1, "1 second"),
        (89, "89 seconds"),
        (750, "12 minutes"),
        (9000, "2 h 30 min"),
    ],
)
def test_durations_read_as_people_say_them(seconds, said):
    assert duration(seconds) == said
