"""Photos: upload (duplicates, tombstones, bad images, throttling), detail with faces, list
filters and cursor pagination, trash and restore, a box drawn by hand; sources; media by token."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from faces.models import Photo, Source
from tests.faces.conftest import face
from tests.factories import image_bytes, make_face, make_photo

pytestmark = pytest.mark.django_db


def upload(api, data: bytes, name: str = "p.jpg", **fields):
    return api.post("/api/photos/", {"image": SimpleUploadedFile(name, data), **fields}, format="multipart")


def test_upload_stores_the_photo_and_detects_it(labeler_api, scripted, auto_detect):
    scripted.faces = [face(20, 30, 60, 70)]
    with auto_detect():
        response = upload(labeler_api, image_bytes(320, 240), caption="live")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["width"], body["height"], body["caption"], body["original_name"]) == (320, 240, "live", "p.jpg")
    detail = labeler_api.get(f"/api/photos/{body['id']}/").json()
    assert detail["status"] == "detected"
    [found] = detail["faces"]
    assert found["box"] == [20, 30, 60, 70] and found["labels"] == []
    assert found["crop"].startswith("http://testserver/media/crops/")


def test_duplicate_upload_answers_409_with_the_existing_id(labeler_api):
    data = image_bytes(100, 80)
    first = upload(labeler_api, data).json()
    response = upload(labeler_api, data)
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "duplicate" and body["existing"] == first["id"] and body["fields"] == {}


def test_a_photo_trashed_once_is_refused(labeler_api, admin_api):
    from faces.services import photo_purge

    data = image_bytes(100, 80)
    photo_id = upload(labeler_api, data).json()["id"]
    assert admin_api.post(f"/api/photos/{photo_id}/trash/").status_code == 200
    response = upload(labeler_api, data)  # still in the trash: its tombstone keeps it out
    assert response.status_code == 409 and response.json()["error"] == "trashed_before"
    photo_purge(photo=Photo.all_objects.get(pk=photo_id))
    response = upload(labeler_api, data)  # purged: its tombstone keeps it out
    assert response.status_code == 409 and response.json()["error"] == "trashed_before"


def test_bad_image_and_missing_file_answer_400(labeler_api):
    response = upload(labeler_api, b"not an image")
    assert response.status_code == 400 and response.json()["error"] == "invalid_image"
    response = labeler_api.post("/api/photos/", {}, format="multipart")
    assert response.status_code == 400 and "image" in response.json()["fields"]


def test_uploads_are_throttled(labeler_api, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "upload": "2/hour"})
    codes = [upload(labeler_api, image_bytes()).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert labeler_api.get("/api/photos/").status_code == 200  # reading is not an upload


def test_trash_and_restore(admin_api):
    photo = make_photo()
    response = admin_api.post(f"/api/photos/{photo.pk}/trash/")
    assert response.status_code == 200 and response.json()["trashed_at"]
    again = admin_api.post(f"/api/photos/{photo.pk}/trash/")
    assert again.status_code == 409 and again.json()["error"] == "already_trashed"
    assert [p["id"] for p in admin_api.get("/api/photos/").json()["results"]] == []
    assert [p["id"] for p in admin_api.get("/api/photos/?trashed=1").json()["results"]] == [photo.pk]
    assert admin_api.post(f"/api/photos/{photo.pk}/restore/").json()["trashed_at"] is None
    assert not Photo.all_objects.get(pk=photo.pk).is_trashed


def test_photo_list_filters_and_cursor_pagination(viewer_api):
    source = Source.objects.create(kind="folder", name="A", locator="/a")
    photos = [make_photo(source=source if i % 2 else None) for i in range(5)]
    make_face(photos[0])
    first = viewer_api.get("/api/photos/?size=2").json()
    assert [p["id"] for p in first["results"]] == [photos[4].pk, photos[3].pk]
    second = viewer_api.get(first["next"]).json()
    assert [p["id"] for p in second["results"]] == [photos[2].pk, photos[1].pk]
    assert second["previous"]
    by_source = viewer_api.get(f"/api/photos/?source={source.pk}").json()["results"]
    assert {p["id"] for p in by_source} == {photos[1].pk, photos[3].pk}
    assert viewer_api.get("/api/photos/?size=2").json()["results"][0]["face_count"] == 0
    assert viewer_api.get(f"/api/photos/{photos[0].pk}/").json()["face_count"] == 1


@pytest.mark.parametrize("query", ["cursor=garbage", "cursor=cD1hYmM%3D", "size=0", "source=abc", "status=nope"])
def test_bad_list_parameters_answer_400(viewer_api, query):
    response = viewer_api.get(f"/api/photos/?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"


def test_missing_photo_answers_404_in_the_error_shape(viewer_api):
    for url in ("/api/photos/999999/", "/api/photos/99999999999999999999999/", "/api/nothing-here/"):
        response = viewer_api.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"] == "not_found", url


def test_a_face_drawn_by_hand(labeler_api):
    photo = make_photo(data=image_bytes(320, 240))
    response = labeler_api.post(f"/api/photos/{photo.pk}/faces/", {"box": [10, 20, 40, 40]}, format="json")
    assert response.status_code == 201
    assert response.json()["detector"] == "manual" and response.json()["box"] == [10, 20, 40, 40]
    response = labeler_api.post(f"/api/photos/{photo.pk}/faces/", {"box": [300, 200, 40, 40]}, format="json")
    assert response.status_code == 400 and "box" in response.json()["fields"]


def test_sources_crud_and_crawl_now(admin_api, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("faces.services.sources.async_task", lambda *args, **kwargs: queued.append(args))
    body = {"kind": "rss", "name": "Feed", "locator": "https://example.org/feed.xml"}
    created = admin_api.post("/api/sources/", body, format="json")
    assert created.status_code == 201 and created.json()["poll_interval_minutes"] == 30
    source_id = created.json()["id"]
    assert admin_api.post("/api/sources/", body, format="json").status_code == 400  # kind + locator unique
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(f"/api/sources/{source_id}/crawl/")
    assert response.status_code == 202 and queued == [("faces.tasks.crawl_source", source_id)]
    assert admin_api.patch(f"/api/sources/{source_id}/", {"enabled": False}, format="json").status_code == 200
    response = admin_api.post(f"/api/sources/{source_id}/crawl/")
    assert response.status_code == 409 and response.json()["error"] == "source_disabled"
    assert admin_api.get("/api/sources/?enabled=false").json()["results"][0]["id"] == source_id
    assert admin_api.delete(f"/api/sources/{source_id}/").status_code == 204


def test_media_accept_a_token(viewer_api, client):
    photo = make_photo()
    url = viewer_api.get(f"/api/photos/{photo.pk}/").json()["image"]
    assert viewer_api.get(url).status_code == 200
    assert APIClient().get(url).status_code == 302  # browsers go to the sign-in page
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.get(url).status_code == 401
    assert viewer_api.delete("/api/auth/token/").status_code == 204  # revoked: refused too
    assert viewer_api.get(url).status_code == 401


def _reencoded(data: bytes, quality: int = 60) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buffer, format="JPEG", quality=quality)
    assert buffer.getvalue() != data
    return buffer.getvalue()


def test_a_reencoded_copy_is_a_duplicate_recorded_as_a_sighting(labeler_api):
    from faces.models import PhotoSighting

    first = upload(labeler_api, image_bytes(400, 300, seed=41)).json()
    response = upload(labeler_api, _reencoded(image_bytes(400, 300, seed=41)), source_url="https://example.org/r.jpg")
    assert response.status_code == 409
    assert response.json()["error"] == "duplicate" and response.json()["existing"] == first["id"]
    assert Photo.all_objects.count() == 1
    sighting = PhotoSighting.objects.get()
    assert (sighting.photo_id, sighting.how, sighting.source_url) == (first["id"], "phash", "https://example.org/r.jpg")


def test_a_reencoded_copy_of_a_trashed_photo_is_refused(labeler_api, admin_api):
    photo_id = upload(labeler_api, image_bytes(400, 300, seed=42)).json()["id"]
    assert admin_api.post(f"/api/photos/{photo_id}/trash/").status_code == 200
    response = upload(labeler_api, _reencoded(image_bytes(400, 300, seed=42)))
    assert response.status_code == 409 and response.json()["error"] == "trashed_before"
    assert Photo.all_objects.count() == 1
