"""The photo feed: newest first with boxes and labels, filters by source, state and unlabeled
faces, live states, retry of a failed detection, and uploads from the page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from faces import services as face_services
from faces.models import Photo, PhotoSighting, Source
from faces.tasks import detect_photo
from labeling import services
from tests.faces.conftest import face, scripted  # noqa: F401  (a fixture)
from tests.factories import image_bytes, make_face, make_idol, make_photo

pytestmark = pytest.mark.django_db

FEED = "/label/photos/"


def cards(response) -> list[int]:
    """The photo ids of the cards, in page order."""
    return [int(pk) for pk in re.findall(r'data-photo-card="(\d+)"', response.content.decode())]


def states(response) -> dict[int, str]:
    html = response.content.decode()
    return {int(pk): state for pk, state in re.findall(r'data-photo-card="(\d+)" data-state="(\w+)"', html)}


def claim(photo: Photo, *, ago: int = 0) -> None:
    Photo.all_objects.filter(pk=photo.pk).update(
        detection_claimed_at=timezone.now() - timedelta(seconds=ago),
        detection_claim="00000000-0000-0000-0000-0000000000aa",
    )


@pytest.fixture
def world():
    source = Source.objects.create(kind=Source.Kind.FOLDER, name="Drop box", locator="/srv/drop")
    waiting = make_photo()
    detecting = make_photo()
    claim(detecting)
    stale = make_photo()  # its worker died: it waits again
    claim(stale, ago=100_000)
    failed = make_photo()
    Photo.all_objects.filter(pk=failed.pk).update(status=Photo.Status.FAILED, error="the detector cannot run: boom")
    done = make_photo(source=source, source_url="https://example.org/post/1")
    labeled_face = make_face(photo=done, box=(10, 10, 50, 50))
    open_face = make_face(photo=done, box=(100, 20, 50, 50))
    moa = make_idol("Moa <b>")
    services.face_label(face=labeled_face, idol=moa)
    all_labeled = make_photo(source=source)
    services.face_label(face=make_face(photo=all_labeled), idol=moa)
    Photo.all_objects.filter(pk__in=[done.pk, all_labeled.pk]).update(status=Photo.Status.DETECTED)
    trashed = make_photo()
    face_services.photo_trash(photo=trashed)
    return {
        "source": source,
        "waiting": waiting,
        "detecting": detecting,
        "stale": stale,
        "failed": failed,
        "done": done,
        "all_labeled": all_labeled,
        "trashed": trashed,
        "open_face": open_face,
        "moa": moa,
    }


def test_newest_first_with_states_boxes_labels_source_and_post_link(as_labeler, world):
    response = as_labeler.get(FEED)
    assert response.status_code == 200
    w = world
    expected = [w["all_labeled"], w["done"], w["failed"], w["stale"], w["detecting"], w["waiting"]]
    assert cards(response) == [p.pk for p in expected]  # the trashed photo is not shown
    assert states(response) == {
        w["all_labeled"].pk: "done",
        w["done"].pk: "done",
        w["failed"].pk: "failed",
        w["stale"].pk: "waiting",
        w["detecting"].pk: "detecting",
        w["waiting"].pk: "waiting",
    }
    html = response.content.decode()
    assert f'data-box-face="{w["open_face"].pk}" data-open' in html  # unlabeled: suggestions go there
    assert "Moa &lt;b&gt;" in html and "Moa <b>" not in html
    assert "Drop box" in html and 'href="https://example.org/post/1"' in html and "original post" in html
    assert "the detector cannot run: boom" in html
    assert reverse("labeling:photo-retry", args=[w["failed"].pk]) in html  # a labeler may retry
    assert 'id="upload-input"' in html and "multiple" in html
    assert reverse("api:suggestions-for-faces") in html


def test_viewer_sees_the_feed_without_upload_or_retry(client, viewer, world):
    client.force_login(viewer)
    html = client.get(FEED).content.decode()
    assert 'id="upload-input"' not in html
    assert reverse("labeling:photo-retry", args=[world["failed"].pk]) not in html
    assert "the detector cannot run: boom" in html


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"state": "waiting"}, ["stale", "waiting"]),
        ({"state": "detecting"}, ["detecting"]),
        ({"state": "done"}, ["all_labeled", "done"]),
        ({"state": "failed"}, ["failed"]),
        ({"unlabeled": "on"}, ["done"]),
        ({"state": "done", "unlabeled": "on"}, ["done"]),
    ],
)
def test_filters_by_state_and_unlabeled_faces(as_labeler, world, query, names):
    assert cards(as_labeler.get(FEED, query)) == [world[n].pk for n in names]


def test_filter_by_source(as_labeler, world):
    response = as_labeler.get(FEED, {"source": world["source"].pk})
    assert cards(response) == [world["all_labeled"].pk, world["done"].pk]


@pytest.mark.parametrize("query", [{"state": "sleeping"}, {"source": "x"}, {"after": "-3"}])
def test_bad_filters_answer_400(as_labeler, world, query):
    response = as_labeler.get(FEED, query)
    assert response.status_code == 400 and cards(response) == []


def test_pages_walk_every_photo_once(as_labeler):
    photos = [make_photo() for _ in range(9)]
    seen, query = [], {"size": "4"}
    for _ in range(5):
        response = as_labeler.get(FEED, query)
        seen += cards(response)
        next_query = response.context["next_query"]
        if not next_query:
            break
        query = dict(pair.split("=") for pair in next_query.split("&"))
    assert seen == [p.pk for p in reversed(photos)]


def test_query_count_does_not_grow_with_photos_or_faces(client, labeler, django_assert_num_queries):
    source = Source.objects.create(kind=Source.Kind.FOLDER, name="A", locator="/a")
    idol = make_idol()
    client.force_login(labeler)
    client.get(FEED)  # warm the session
    for n in (2, 12):
        while Photo.objects.count() < n:
            photo = make_photo(source=source)
            for i in range(3):
                f = make_face(photo=photo, box=(10 + 60 * i, 10, 50, 50))
                if i:
                    services.face_label(face=f, idol=idol)
        # session, user, user perms, group perms, sources, photos + sources, faces, labels + idols
        with django_assert_num_queries(8):
            response = client.get(FEED, {"unlabeled": "on", "source": source.pk})
        assert len(cards(response)) == n
        assert response.content.count(b"data-box-face=") == 3 * n


def test_status_answers_each_shown_photo_state_and_a_failed_reason(as_labeler, world, django_assert_num_queries):
    ids = [world[n].pk for n in ("waiting", "detecting", "stale", "failed", "done", "trashed")]
    as_labeler.get(FEED)
    with django_assert_num_queries(5):  # session, user, user perms, group perms, photos
        response = as_labeler.get(reverse("labeling:photos-status"), {"ids": ",".join(map(str, ids))})
    assert response.status_code == 200
    got = {p["id"]: (p["state"], p["error"]) for p in response.json()["photos"]}
    assert got == {
        world["waiting"].pk: ("waiting", ""),
        world["detecting"].pk: ("detecting", ""),
        world["stale"].pk: ("waiting", ""),
        world["failed"].pk: ("failed", "the detector cannot run: boom"),
        world["done"].pk: ("done", ""),
    }  # the trashed photo is left out


@pytest.mark.parametrize("ids", ["1,x", "0", "-1", ",".join(["1"] * 201)])
def test_status_refuses_bad_ids(as_labeler, ids):
    assert as_labeler.get(reverse("labeling:photos-status"), {"ids": ids}).status_code == 400


def test_card_fragment_shows_the_faces_once_detected(as_labeler, scripted):  # noqa: F811
    scripted.faces = [face(20, 30, 60, 70)]
    photo = make_photo(data=image_bytes(320, 240))
    url = reverse("labeling:photo-card", args=[photo.pk])
    before = as_labeler.get(url).content.decode()
    assert 'data-state="waiting"' in before and "data-box-face" not in before and "<html" not in before
    detect_photo(photo.pk)
    after = as_labeler.get(url).content.decode()
    assert 'data-state="done"' in after and after.count("data-box-face=") == 1 and "1 face" in after


def test_missing_card_is_404(as_labeler):
    assert as_labeler.get(reverse("labeling:photo-card", args=[999_999])).status_code == 404


def test_retry_queues_a_failed_photo_again(as_labeler, scripted, django_capture_on_commit_callbacks):  # noqa: F811
    scripted.error = RuntimeError("boom")
    photo = make_photo(data=image_bytes(320, 240))
    detect_photo(photo.pk)
    photo.refresh_from_db()
    assert photo.status == Photo.Status.FAILED and "boom" in photo.error
    scripted.error = None
    scripted.faces = [face(20, 30, 60, 70)]
    url = reverse("labeling:photo-retry", args=[photo.pk])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = as_labeler.post(url, {}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "waiting" and 'data-state="waiting"' in response.json()["html"]
    photo.refresh_from_db()
    assert (photo.status, photo.error) == (Photo.Status.NEW, "")
    assert len(queued) == 1
    queued[0]()  # the queued detection runs (inline: the tests' task queue is synchronous)
    photo.refresh_from_db()
    assert photo.status == Photo.Status.DETECTED and photo.faces.count() == 1
    again = as_labeler.post(url, {}, content_type="application/json")
    assert again.status_code == 409 and again.json()["error"] == "not_failed"


def test_viewer_cannot_retry(client, viewer, world):
    client.force_login(viewer)
    url = reverse("labeling:photo-retry", args=[world["failed"].pk])
    assert client.post(url, {}, content_type="application/json").status_code == 403
    assert Photo.objects.get(pk=world["failed"].pk).status == Photo.Status.FAILED


# --- uploads --------------------------------------------------------------------------------

UPLOAD = "/label/photos/upload/"


def upload(client, data: bytes, name: str = "p.jpg", **extra):
    return client.post(UPLOAD, {"image": SimpleUploadedFile(name, data, content_type="image/jpeg")}, **extra)


def test_upload_stores_the_photo_queues_detection_and_answers_its_card(
    as_labeler, settings, django_capture_on_commit_callbacks
):
    settings.IDOLSITE_AUTO_DETECT = True
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = upload(as_labeler, image_bytes(320, 240), name="stage.jpg")
    assert response.status_code == 201, response.content
    body = response.json()
    photo = Photo.objects.get(pk=body["id"])
    assert photo.original_name == "stage.jpg" and photo.status == Photo.Status.NEW
    assert body["state"] == "waiting" and f'data-photo-card="{photo.pk}"' in body["html"]
    assert body["url"] == reverse("labeling:photo", args=[photo.pk])
    assert len(queued) == 1  # detection, once the upload commits (as the API's upload)


def test_duplicate_upload_answers_a_link_to_the_stored_photo(as_labeler):
    data = image_bytes(320, 240)
    first = upload(as_labeler, data).json()["id"]
    response = upload(as_labeler, data, name="again.jpg")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "duplicate" and body["existing"] == first
    assert body["url"] == reverse("labeling:photo", args=[first]) and str(first) in body["detail"]
    assert Photo.objects.count() == 1 and PhotoSighting.objects.filter(photo_id=first).count() == 1


def test_a_photo_trashed_once_is_refused(as_labeler):
    data = image_bytes(320, 240)
    face_services.photo_trash(photo=make_photo(data=data))
    response = upload(as_labeler, data)
    assert response.status_code == 409 and response.json()["error"] == "trashed_before"
    assert Photo.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\xff\xd8\xff\xe0 not really a jpeg" * 10, "image"),  # corrupt
        (b"%PDF-1.4 a document, not a photo", "image"),
        (b"", "empty"),
    ],
)
def test_a_bad_file_is_refused_with_its_reason(as_labeler, data, words):
    response = upload(as_labeler, data, name="bad.jpg")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] in ("invalid_image", "invalid") and words in body["detail"].lower()
    assert Photo.objects.count() == 0


def test_a_file_too_big_is_refused(as_labeler, settings):
    settings.IDOLSITE_MAX_IMAGE_BYTES = 2048
    response = upload(as_labeler, image_bytes(640, 480, fmt="PNG"))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_image" and "2,048" in body["detail"]
    assert Photo.objects.count() == 0


def test_no_file_is_refused(as_labeler):
    response = as_labeler.post(UPLOAD, {})
    assert response.status_code == 400 and "image file" in response.json()["detail"]


def test_viewer_cannot_upload(client, viewer):
    client.force_login(viewer)
    response = upload(client, image_bytes(320, 240))
    assert response.status_code == 403 and Photo.objects.count() == 0


def test_upload_needs_the_csrf_token(labeler):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(labeler)
    assert upload(client, image_bytes(320, 240)).status_code == 403
    token = client.get(FEED).context["csrf_token"]
    assert upload(client, image_bytes(320, 240), HTTP_X_CSRFTOKEN=str(token)).status_code == 201


def test_upload_in_japanese_says_why(as_labeler):
    response = upload(as_labeler, b"not an image at all", HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 400
    assert response.json()["detail"].isascii() is False


def test_nav_and_the_grid_empty_state_link_the_feed(as_labeler):
    html = as_labeler.get(reverse("labeling:grid")).content.decode()
    assert html.count(f'href="{FEED}"') == 2  # the header, and "nothing here"


def test_the_feed_speaks_japanese(as_labeler, world):
    from django.utils import translation

    html = as_labeler.get(FEED, HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    with translation.override("ja"):
        words = [
            translation.gettext(text)
            for text in ("Photos", "choose files", "waiting for detection", "detection failed", "Retry")
        ]
        words.append(translation.pgettext("a photo's source", "uploaded"))
    for word in words:
        assert word.isascii() is False and word in html
    assert "Sign out" not in html
