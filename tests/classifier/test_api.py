from __future__ import annotations

import io
import types

import pytest
from PIL import Image
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from classifier import recognition
from tests.factories import image_bytes
from tests.netfakes import PUBLIC_IP, FakeDNS
from tests.webserver import LocalWebServer

pytestmark = pytest.mark.django_db
URL = "/api/recognize/"


@pytest.fixture
def api(user):
    from labeling.roles import assign_role

    assign_role(user, "viewer")
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_user_without_a_role_is_refused(user):
    client = APIClient()
    client.force_authenticate(user)
    assert client.post(URL, _upload(image_bytes()), format="multipart").status_code == 403


@pytest.fixture
def two_faces(monkeypatch):
    """Detection stubbed: every image has two faces, a red one and a green one."""
    crops = [Image.new("RGB", (128, 128), (255, 0, 0)), Image.new("RGB", (128, 128), (0, 200, 0))]

    def detect(image):
        return [((10, 20, 30, 40), crops[0]), ((50, 60, 70, 80), crops[1])]

    monkeypatch.setattr(recognition, "detect_faces", detect)


def _upload(data: bytes, name: str = "photo.jpg"):
    file = io.BytesIO(data)
    file.name = name
    return {"image": file}


def test_authentication_is_required():
    response = APIClient().post(URL, _upload(image_bytes()), format="multipart")
    assert response.status_code in (401, 403)


def test_no_active_model_is_409(api):
    response = api.post(URL, _upload(image_bytes()), format="multipart")
    assert response.status_code == 409
    assert response.json()["error"] == "no_model" and "train" in response.json()["detail"]


def test_bad_image_is_400(api, active_tiny_model, two_faces):
    response = api.post(URL, _upload(b"<!DOCTYPE html><html></html>", "x.jpg"), format="multipart")
    assert response.status_code == 400
    assert "not an image" in response.json()["detail"] or "HTML" in response.json()["detail"]


def test_image_and_url_together_or_neither_is_400(api, active_tiny_model):
    assert api.post(URL, {}, format="multipart").status_code == 400
    both = {**_upload(image_bytes()), "url": "https://example.org/a.jpg"}
    assert api.post(URL, both, format="multipart").status_code == 400


def test_url_to_a_private_host_is_refused(api, active_tiny_model):
    response = api.post(URL, {"url": "http://127.0.0.1/secret.jpg"}, format="json")
    body = response.json()
    assert response.status_code == 400 and body["error"] == "fetch_failed" and "internal address" in body["detail"]


def test_backslash_url_is_refused_and_fetches_nothing(api, active_tiny_model, monkeypatch, settings):
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = []
    FakeDNS(monkeypatch).names["public.example"] = [PUBLIC_IP]
    with LocalWebServer() as web:
        response = api.post(URL, {"url": f"{web.base}\\@public.example/x.jpg"}, format="json")
    body = response.json()
    assert response.status_code == 400 and body["error"] == "fetch_failed" and "backslash" in body["detail"]
    assert web.requests == []


def test_happy_path_answers_each_face_with_its_top_idols(api, active_tiny_model, two_faces, settings):
    settings.IDOLSITE_UNKNOWN_THRESHOLD = 0.0
    response = api.post(URL, _upload(image_bytes(200, 150)), format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"]["id"] == active_tiny_model.pk
    assert [face["box"] for face in body["faces"]] == [[10, 20, 30, 40], [50, 60, 70, 80]]
    names = {"Chika", "Dai"}
    for face in body["faces"]:
        assert {guess["name"] for guess in face["top"]} == names
        probabilities = [guess["probability"] for guess in face["top"]]
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0.99 <= sum(probabilities) <= 1.01
        assert face["unknown"] is False and face["best_probability"] == probabilities[0]


def test_unknown_when_the_best_probability_is_under_the_threshold(api, active_tiny_model, two_faces, settings):
    settings.IDOLSITE_UNKNOWN_THRESHOLD = 1.0
    body = api.post(URL, _upload(image_bytes()), format="multipart").json()
    assert all(face["unknown"] for face in body["faces"])


def test_unavailable_detector_is_a_clear_503(api, active_tiny_model, monkeypatch):
    from faces import detection
    from faces.detectors import DetectorUnavailable

    def broken(image, **kwargs):
        raise DetectorUnavailable("the YuNet model file is missing")

    monkeypatch.setattr(detection, "analyze_image", broken)
    response = api.post(URL, _upload(image_bytes()), format="multipart")
    assert response.status_code == 503 and "YuNet" in response.json()["detail"]


def test_recognition_is_throttled(api, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"recognize": "1/min"})
    assert api.post(URL, _upload(image_bytes()), format="multipart").status_code == 409
    assert api.post(URL, _upload(image_bytes()), format="multipart").status_code == 429


def test_predict_crops_accepts_images_arrays_and_bytes(active_tiny_model):
    import numpy as np

    red = Image.new("RGB", (64, 64), (255, 0, 0))
    results = recognition.predict_crops([red, np.asarray(red), image_bytes(64, 64)])
    assert len(results) == 3
    assert results[0].top == results[1].top
    assert results[0].embedding.shape == (8,)
    assert recognition.predict_crops([]) == []


def test_recognize_uses_the_detection_pipelines_boxes_and_aligned_crops(active_tiny_model, monkeypatch):
    from faces import detection
    from tests.factories import image_bytes as jpeg

    found = types.SimpleNamespace(faces=[types.SimpleNamespace(box=(5, 6, 7, 8), crop=jpeg(128, 128))])
    calls = []

    def analyze(image, **kwargs):
        calls.append(kwargs)
        return found

    monkeypatch.setattr(detection, "analyze_image", analyze)
    faces = recognition.recognize(Image.new("RGB", (300, 200)))
    assert [f.box for f in faces] == [(5, 6, 7, 8)] and len(faces[0].top) == 2
    assert calls == [{"crops": True}]
