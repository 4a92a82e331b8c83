"""The home page: counts, what runs and waits, the sources, and the next useful action, in a
fixed number of queries."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from classifier import overview
from classifier.models import ModelVersion, TrainingRun
from classifier.services import retraining
from faces import services as face_services
from faces.models import Photo, Source
from labeling import selectors as labeling_selectors
from labeling import services as label_services
from labeling.models import LabelEvent
from labeling.roles import assign_role
from tests.factories import make_embedded_face, make_face, make_idol, make_photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def labeler(django_user_model):
    user = django_user_model.objects.create_user(username="hana", password="pw-hana-123")
    assign_role(user, "labeler")
    return user


@pytest.fixture
def as_labeler(client, labeler):
    client.force_login(labeler)
    return client


def figure(html: str, name: str) -> str:
    """The text of the element marked ``data-figure="name"``, tags stripped."""
    found = re.search(rf'data-figure="{name}"[^>]*>(.*?)</(dd|td|p)>', html, re.S)
    assert found, f"no figure {name}"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def number(html: str, name: str) -> int:
    return int(re.sub(r"\D", "", figure(html, name).split()[0]) or 0)


def home(client) -> str:
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return response.content.decode()


def test_signed_out_people_go_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("labeling:login"))
    assert "next=/" in response["Location"]


def test_an_account_without_a_role_is_refused(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="nobody", password="pw-nobody-1"))
    assert client.get("/").status_code == 403


def test_the_counts(as_labeler, labeler, django_user_model):
    other = django_user_model.objects.create_user(username="yuki", password="pw-yuki-123")
    aoi, beni = make_idol("Aoi"), make_idol("Beni")
    label_services.idol_soft_delete(idol=make_idol("Gone"), reason="graduated")
    faces = [make_face() for _ in range(6)]
    two = make_face(faces[0].photo, box=(60, 60, 40, 40))  # a second face on one photo
    label_services.face_label(face=faces[0], idol=aoi, user=labeler)
    label_services.face_label(face=faces[0], idol=beni, user=labeler)  # two labels: one face
    label_services.face_label(face=faces[1], idol=beni, user=other)
    label_services.face_exclude(face=faces[2], reason="not_face")
    trashed = faces[3].photo
    label_services.face_label(face=faces[3], idol=aoi, user=other)
    face_services.photo_trash(photo=trashed)
    html = home(as_labeler)
    # photos: 6 made, 1 trashed; faces: 7, 1 excluded, 1 on the trashed photo
    assert number(html, "photos") == 5
    assert number(html, "faces") == 5
    assert number(html, "unlabeled") == 3  # faces 4, 5 and the second face of photo 0
    assert number(html, "today-mine") == 2 and number(html, "today") == 4
    assert number(html, "idols") == 2
    assert two.pk and 'href="/label/?status=unlabeled"' in html


def test_an_excluded_face_with_a_label_is_not_taken_off_the_unlabeled_twice(as_labeler, labeler):
    aoi = make_idol("Aoi")
    faces = [make_face() for _ in range(3)]
    label_services.face_label(face=faces[0], idol=aoi, user=labeler)
    label_services.face_exclude(face=faces[0], reason="not_face")  # labeled, then excluded
    html = home(as_labeler)
    assert number(html, "faces") == 2
    assert number(html, "unlabeled") == 2  # as the grid counts them
    assert labeling_selectors.unlabeled_total() == 2


def test_labels_of_earlier_days_imports_and_removals_are_not_labeled_today(as_labeler, labeler):
    idol = make_idol("Aoi")
    face = make_face()
    label_services.face_label(face=face, idol=idol, user=labeler)
    label_services.face_unlabel(face=face, idol=idol, user=labeler)
    LabelEvent.objects.create(
        face=make_face(),
        idol=idol,
        action=LabelEvent.Action.LABEL_ADDED,
        how=LabelEvent.How.IMPORT,
        user=labeler,
        batch=uuid.uuid4(),
    )
    yesterday = timezone.localtime().replace(hour=0, minute=0, second=0) - timedelta(minutes=1)
    old = LabelEvent.objects.create(
        face=make_face(),
        idol=idol,
        action=LabelEvent.Action.LABEL_ADDED,
        how=LabelEvent.How.MANUAL,
        user=labeler,
        batch=uuid.uuid4(),
    )
    # The history is append-only: moved back past the guard, as time would.
    QuerySet.update(LabelEvent.objects.filter(pk=old.pk), created_at=yesterday)
    html = home(as_labeler)
    assert number(html, "today-mine") == 1 and number(html, "today") == 1


def test_what_runs_and_waits(as_labeler, settings):
    waiting = [make_photo() for _ in range(3)]  # new photos wait for detection
    Photo.objects.filter(pk=waiting[0].pk).update(detection_claimed_at=timezone.now())
    face_services.photo_trash(photo=make_photo())  # trashed before its detection: not waiting
    failed = make_photo()
    Photo.objects.filter(pk=failed.pk).update(status=Photo.Status.FAILED, error="broken")
    embedded = make_embedded_face(1.0)
    Photo.objects.filter(pk=embedded.photo_id).update(status=Photo.Status.DETECTED)
    for _ in range(2):  # faces after the newest embedded one wait for their vector
        face = make_face()
        Photo.objects.filter(pk=face.photo_id).update(status=Photo.Status.DETECTED)
    html = home(as_labeler)
    assert figure(html, "waiting").startswith("3 photos waiting") and "1 being detected" in figure(html, "waiting")
    assert number(html, "failed") == 1
    assert figure(html, "embedding") == "2 faces without an embedding"
    assert "location.reload" in html  # work under way: the page follows it


def test_queues_are_counted_up_to_a_limit(as_labeler, monkeypatch):
    monkeypatch.setattr(overview, "QUEUE_LIMIT", 2)
    for _ in range(3):
        make_photo()
    assert figure(home(as_labeler), "waiting").startswith("2+ photos waiting")


def test_the_current_training_with_its_progress_and_link(as_labeler):
    run = TrainingRun.objects.create(
        status=TrainingRun.Status.RUNNING, epoch=3, epochs=10, step=5, steps=20, eta_seconds=120
    )
    html = home(as_labeler)
    text = figure(html, "training")
    assert f'href="{reverse("classifier:run_detail", args=[run.pk])}"' in html
    assert "epoch 3/10" in text and "about 2 minutes left" in text
    assert f'href="{reverse("classifier:run_list")}"' in html


def test_a_waiting_training_says_what_it_waits_for(as_labeler, settings):
    settings.IDOLSITE_AUTO_DETECT = True
    for _ in range(2):
        make_photo()
    retraining._recheck_later(retraining.TrainingWait(photos=2))
    text = figure(home(as_labeler), "training-wait")
    assert "waiting for 2 photos to be detected" in text and "next check at" in text


def test_the_sources_with_their_last_run_and_error(as_labeler):
    Source.objects.create(
        kind="rss",
        name="Fan blog",
        locator="https://example.org/feed",
        last_run_at=timezone.now(),
        last_error="HTTP 503 from example.org",
    )
    Source.objects.create(kind="folder", name="Camera roll", locator="/photos", enabled=False)
    html = home(as_labeler)
    assert "Fan blog" in html and "HTTP 503 from example.org" in html
    assert "Camera roll" in html and "never" in html and "disabled" in html


def _actions(html: str) -> list[tuple[str, str, bool]]:
    return [
        (href, re.sub(r"<[^>]+>", "", text), "primary" in cls)
        for href, cls, text in re.findall(r'<a href="([^"]*)"([^>]*) data-action>(.*?)</a>', html)
    ]


def test_next_label_the_faces_then_train_then_review_the_suggestions(as_labeler, django_capture_on_commit_callbacks):
    faces = [make_face() for _ in range(3)]
    actions = _actions(home(as_labeler))
    assert actions[0] == ("/label/?status=unlabeled", "Label 3 faces", True)
    assert all(label != "Train a model" for _, label, _ in actions)  # nothing to learn from yet
    with django_capture_on_commit_callbacks(execute=True):  # the kept count moves on commit
        label_services.face_label(face=faces[0], idol=make_idol("Aoi"))
    actions = _actions(home(as_labeler))
    assert actions[0] == ("/label/?status=unlabeled", "Label 2 faces", True)
    assert ("/classifier/runs/", "Train a model", False) in actions
    ModelVersion.objects.create(
        directory="v1", format_version=1, class_idol_ids=[], input_size=16, fingerprint="f" * 64, val_top1=0.9,
        is_active=True,
    )  # fmt: skip
    actions = _actions(home(as_labeler))
    assert actions[0] == (reverse("classifier:review"), "Review suggestions", True)
    assert all(label != "Train a model" for _, label, _ in actions)


def test_next_upload_photos_when_there_are_none(as_labeler):
    page = home(as_labeler)
    assert _actions(page)[0] == (reverse("labeling:photos"), "Upload photos", True)
    assert "manage.py import_photos" in page  # the other ways in are named too


def test_a_fixed_number_of_queries(as_labeler, labeler, django_assert_num_queries):
    idol = make_idol("Aoi")
    Source.objects.create(kind="rss", name="Feed", locator="https://example.org/a")
    label_services.face_label(face=make_face(), idol=idol, user=labeler)
    TrainingRun.objects.create(status=TrainingRun.Status.RUNNING)
    home(as_labeler)
    # session, user, user and group permissions (the role), the estimates (PostgreSQL), the
    # counts, the embedding model's newest face is inside them, the runs, the waiting schedule,
    # the active model, the sources
    expected = 9 + (connection.vendor == "postgresql")
    with django_assert_num_queries(expected):
        home(as_labeler)
    for i in range(10):
        label_services.face_label(face=make_face(), idol=make_idol(f"Idol {i}"), user=labeler)
        Source.objects.create(kind="rss", name=f"Feed {i}", locator=f"https://example.org/{i}")
    make_embedded_face(1.0)
    with django_assert_num_queries(expected):
        home(as_labeler)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner estimates")
def test_big_tables_are_counted_by_the_planners_estimate_on_postgresql(as_labeler, monkeypatch):
    for _ in range(4):
        make_face()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE faces_face, faces_photo")
    monkeypatch.setattr(overview, "ESTIMATE_FROM", 1)
    html = home(as_labeler)
    assert number(html, "faces") == 4 and "≈" in html


def test_the_header_links_home(as_labeler):
    html = as_labeler.get(reverse("labeling:grid")).content.decode()
    assert '<a class="brand" href="/">' in html and f'<a href="/">{"Home"}</a>' in html


def test_while_a_training_waits_what_it_waits_for_is_a_few_queries_more(
    as_labeler, labeler, settings, django_assert_num_queries
):
    settings.IDOLSITE_AUTO_DETECT = True
    settings.IDOLSITE_AUTO_EMBED = True
    settings.IDOLSITE_TRAINING_SETTLE_SECONDS = 60
    label_services.face_label(face=make_face(), idol=make_idol("Aoi"), user=labeler)
    retraining._recheck_later(retraining.TrainingWait(photos=1))
    home(as_labeler)
    # the page's 9 (10 on PostgreSQL), then: waiting photos, trashed ones among them, the
    # embedding model's newest face, the faces after it, whether a model exists, the last label
    with django_assert_num_queries(9 + (connection.vendor == "postgresql") + 6):
        text = figure(home(as_labeler), "training-wait")
    assert "waiting for 1 photo to be detected" in text
    assert "waiting for 1 face to get its embedding" in text
    assert "waiting for labels to settle (60 s without a change)" in text


def test_staff_reach_a_source_in_the_admin(admin_client):
    source = Source.objects.create(kind="rss", name="Fan blog", locator="https://example.org/feed")
    html = home(admin_client)
    assert f'href="{reverse("admin:faces_source_change", args=[source.pk])}"' in html
