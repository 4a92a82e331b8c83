"""POST /api/detect/: authentication, input, errors, throttling, URL fetching, and the admin page."""

from __future__ import annotations

import base64
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache
from django.urls import reverse
from knox.models import AuthToken
from PIL import Image
from rest_framework.test import APIClient

from faces.tasks import detect_photo
from tests.conftest import SHARED_PHOTOS, needs_shared_photos
from tests.faces.conftest import face
from tests.faces.test_images import BAD_INPUT, UNUSUAL_INPUT
from tests.factories import image_bytes, make_photo
from tests.netfakes import PUBLIC_IP, FakeDNS
from tests.webserver import Answer, LocalWebServer

pytestmark = pytest.mark.django_db
URL = "/api/detect/"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()  # throttle counters live in the cache
    yield
    cache.clear()


@pytest.fixture
def user(user):
    """Detection needs the viewer role (faces.view_photo), as every API endpoint needs one."""
    from labeling.roles import assign_role

    assign_role(user, "viewer")
    return user


@pytest.fixture
def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
    return client


def upload(api, data: bytes, name: str = "photo.jpg", query: str = ""):
    return api.post(URL + query, {"image": io.BytesIO(data) if data else _named(b"", name)}, format="multipart")


def _named(data: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data)


def test_anonymous_callers_are_refused_with_the_error_shape():
    response = APIClient().post(URL, {"url": "https://example.org/a.jpg"}, format="json")
    assert response.status_code == 401
    assert response.json() == {
        "error": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
        "fields": {},
    }


def test_upload_returns_faces(api, scripted):
    scripted.faces = [face(20, 30, 60, 70)]
    response = upload(api, image_bytes(320, 240))
    assert response.status_code == 200, response.content
    body = response.json()
    assert {k: body[k] for k in ("width", "height", "detector")} == {
        "width": 320,
        "height": 240,
        "detector": "scripted",
    }
    assert body["ms"] >= 0
    assert body["faces"] == [
        {
            "box": [20, 30, 60, 70],
            "score": 0.99,
            "landmarks": {"left_eye": [38.0, 58.0], "right_eye": [62.0, 58.0]},
            "angle": 0.0,
        }
    ]


def test_session_authentication_works_too(client, user, scripted):
    client.force_login(user)
    response = client.post(URL, {"image": _named(image_bytes(), "a.jpg")})
    assert response.status_code == 200


def test_crops_are_added_on_request(api, scripted):
    scripted.faces = [face(20, 30, 60, 70)]
    [found] = upload(api, image_bytes(320, 240), query="?crops=1").json()["faces"]
    crop = Image.open(io.BytesIO(base64.b64decode(found["crop"])))
    assert (crop.format, crop.size) == ("JPEG", (128, 128))


@pytest.mark.parametrize("name", list(BAD_INPUT))
def test_bad_images_answer_400_with_the_reason(api, scripted, name):
    make, reason = BAD_INPUT[name]
    response = upload(api, make())
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_image" and reason.lower() in body["detail"].lower()


@pytest.mark.parametrize("name", list(UNUSUAL_INPUT))
def test_unusual_images_are_detected(api, scripted, name):
    make, _ = UNUSUAL_INPUT[name]
    response = upload(api, make())
    assert response.status_code == 200
    assert (response.json()["width"], response.json()["height"]) == (64, 48)


def test_neither_or_both_inputs_is_a_validation_error(api, scripted):
    response = api.post(URL, {}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid" and "either an image" in body["detail"]
    assert "non_field_errors" in body["fields"]
    response = api.post(URL, {"url": "not a url"}, format="json")
    assert response.status_code == 400 and "url" in response.json()["fields"]


def test_too_large_upload_is_refused(api, scripted, settings):
    settings.IDOLSITE_API_MAX_IMAGE_BYTES = 2000
    response = upload(api, image_bytes(400, 300))
    assert response.status_code == 400
    assert "too large" in response.json()["detail"]


def test_detections_are_throttled(api, scripted, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(
        ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "detect": "2/minute"}
    )
    responses = [upload(api, image_bytes()) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2].json()["error"] == "throttled" and "Retry-After" in responses[2].headers


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin/",
        "http://localhost/x.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/a.jpg",
        "http://[::1]/a.jpg",
        "http://0.0.0.0/a.jpg",
    ],
)
def test_urls_to_private_addresses_are_refused(api, scripted, url):
    response = api.post(URL, {"url": url}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "fetch_failed" and "internal address" in body["detail"]
    assert "url" in body["fields"]


def test_non_http_urls_are_refused(api, scripted):
    response = api.post(URL, {"url": "ftp://example.org/a.jpg"}, format="json")
    assert response.status_code == 400


class _Images(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self):
        status, headers, body = self.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def image_server(settings):
    """A local HTTP server; its host is on the allowlist, as an intranet image server would be."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.IDOLSITE_FETCH_HOST_DELAY = 0
    yield f"http://127.0.0.1:{server.server_port}", _Images.routes
    server.shutdown()
    server.server_close()
    _Images.routes.clear()


def test_url_is_fetched_from_an_allowed_host(api, scripted, image_server):
    base, routes = image_server
    routes["/a.png"] = (200, {"Content-Type": "image/png"}, image_bytes(200, 100, fmt="PNG"))
    routes["/moved"] = (302, {"Location": "/a.png"}, b"")
    for path in ("/a.png", "/moved"):
        response = api.post(URL, {"url": base + path}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["width"] == 200


def test_fetch_errors_answer_400(api, scripted, image_server, settings):
    base, routes = image_server
    routes["/page"] = (200, {"Content-Type": "text/html"}, b"<html><body>hi</body></html>")
    routes["/big"] = (200, {}, image_bytes(400, 300))
    routes["/to-metadata"] = (302, {"Location": "http://169.254.169.254/"}, b"")
    settings.IDOLSITE_API_MAX_IMAGE_BYTES = 3000
    expected = {
        "/missing": ("fetch_failed", "HTTP 404"),
        "/page": ("fetch_failed", "not an image (content type text/html)"),
        "/big": ("fetch_failed", "too large"),
        "/to-metadata": ("fetch_failed", "internal address"),
    }
    for path, (code, words) in expected.items():
        response = api.post(URL, {"url": base + path}, format="json")
        assert response.status_code == 400, path
        assert response.json()["error"] == code and words in response.json()["detail"], path


def test_backslash_url_answers_400_and_fetches_nothing(api, scripted, monkeypatch, settings):
    """urlsplit read public.example as the host, the connection went to 127.0.0.1 before the backslash."""
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = []
    settings.IDOLSITE_FETCH_HOST_DELAY = 0
    FakeDNS(monkeypatch).names["public.example"] = [PUBLIC_IP]
    with LocalWebServer() as web:
        web.routes["/%5C@public.example/x.jpg"] = Answer(
            body=image_bytes(200, 100), headers={"Content-Type": "image/jpeg"}
        )
        response = api.post(URL, {"url": f"{web.base}\\@public.example/x.jpg"}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "fetch_failed" and "backslash" in body["detail"] and "url" in body["fields"]
    assert web.requests == []


def test_redirect_to_a_malformed_port_answers_400(api, scripted, image_server):
    base, routes = image_server
    routes["/bad-port"] = (302, {"Location": "http://public.example:notaport/"}, b"")
    response = api.post(URL, {"url": base + "/bad-port"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "fetch_failed" and "redirect" in body["detail"] and "not a valid URL" in body["detail"]


@needs_shared_photos
def test_real_detector_finds_the_astronaut(api, settings):
    settings.IDOLSITE_DETECTOR = "mtcnn"
    response = upload(api, (SHARED_PHOTOS / "astronaut.png").read_bytes(), name="astronaut.png")
    assert response.status_code == 200
    [found] = response.json()["faces"]
    assert found["score"] > 0.95 and set(found["landmarks"]) >= {"left_eye", "right_eye"}


def test_admin_photo_page_draws_the_detected_boxes(client, admin_user, scripted):
    scripted.faces = [face(20, 30, 60, 70)]
    photo = make_photo(data=image_bytes(320, 240))
    detect_photo(photo.pk)
    client.force_login(admin_user)
    response = client.get(reverse("admin:faces_photo_change", args=[photo.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<rect x="20" y="30" width="60" height="70"' in html
    assert "score 0.990, angle +0.0°" in html
    assert "<circle" in html  # the eyes


def test_admin_action_detects_photos_again(client, admin_user, scripted, django_capture_on_commit_callbacks):
    scripted.faces = [face(20, 30, 60, 70)]
    photo = make_photo(data=image_bytes(320, 240))
    detect_photo(photo.pk)
    scripted.faces = [face(100, 30, 60, 70)]
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:faces_photo_changelist"), {"action": "detect_again", "_selected_action": [photo.pk]}
        )
    assert response.status_code == 302
    assert [f.box for f in photo.faces.all()] == [[100, 30, 60, 70]]
