"""Inputs that used to crash the server: each answers 400 (or 413) in the API's error shape,
and the labeling pages' JSON actions refuse them with a JSON error, never a 500."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.urls import reverse

from idolsite.views import bad_request_view
from labeling.models import FaceLabel, Idol
from labeling.roles import assign_role

pytestmark = pytest.mark.django_db

DEEP = b"[" * 200_000
TOO_BIG = b'{"faces": [1], "idol": 1, "pad": "' + b"a" * 12_000_000 + b'"}'


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"error", "detail", "fields"} and isinstance(body["fields"], dict)
    if code:
        assert body["error"] == code
    return body


@pytest.fixture
def page(client, world):
    assign_role(world.user, "admin")
    client.force_login(world.user)
    client.raise_request_exception = False
    return client


def post_raw(client, url: str, body: bytes):
    return client.post(url, data=body, content_type="application/json")


# --- the API ----------------------------------------------------------------------------------


def test_deeply_nested_json_is_a_400(admin_api):
    response = post_raw(admin_api, "/api/faces/bulk/label/", DEEP)
    assert "nests deeper" in assert_error_shape(response, 400, "parse_error")["detail"]
    nested = b'{"faces": ' + b"[" * 70 + b"1" + b"]" * 70 + b', "idol": 1}'
    assert_error_shape(post_raw(admin_api, "/api/faces/bulk/label/", nested), 400, "parse_error")


def test_json_within_the_depth_limit_is_parsed(admin_api, world):
    body = {"name": "Deep Notes", "handles": {"x": "a"}, "aliases": ["b"]}
    assert post_raw(admin_api, "/api/idols/", json.dumps(body).encode()).status_code == 201


def test_ids_beyond_the_database_range_are_a_400(admin_api, world):
    body = {"faces": [2**70], "idol": world.idol.pk}
    assert "faces" in assert_error_shape(admin_api.post("/api/faces/bulk/label/", body, format="json"), 400)["fields"]
    response = admin_api.post(f"/api/faces/{world.unlabeled.pk}/labels/", {"idol": 2**70}, format="json")
    assert "idol" in assert_error_shape(response, 400)["fields"]


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/idols/", b'{"name": "\\ud800"}', "name"),
        ("/api/idols/", b'{"name": "Ok", "aliases": ["x\\udfff"]}', "aliases"),
        ("/api/idols/", b'{"name": "Ok", "handles": {"\\udc00": "x"}}', "handles"),
        ("/api/groups/", b'{"name": "G", "notes": "\\ud800\\ud800"}', "notes"),
        ("/api/label-events/undo/", b'{"batch": "\\ud800"}', "batch"),
    ],
)
def test_lone_surrogates_are_a_400_naming_the_field(admin_api, url, body, field):
    response = post_raw(admin_api, url, body)
    assert field in assert_error_shape(response, 400, "invalid")["fields"]
    assert not Idol.all_objects.filter(name="Ok").exists()


def test_a_surrogate_pair_is_text_like_any_other(admin_api):
    response = post_raw(admin_api, "/api/idols/", b'{"name": "Star \\ud83c\\udf1f"}')
    assert response.status_code == 201 and response.json()["name"] == "Star \U0001f31f"


@pytest.mark.parametrize("query", ["idol", "group", "source"])
def test_filter_ids_beyond_the_database_range_are_a_400(viewer_api, query):
    response = viewer_api.get(f"/api/faces/?{query}=99999999999999999999")
    assert query in assert_error_shape(response, 400, "invalid")["fields"]


def test_an_oversized_body_is_a_413_in_the_error_shape(admin_api):
    assert_error_shape(post_raw(admin_api, "/api/faces/bulk/label/", TOO_BIG), 413, "too_large")
    assert_error_shape(post_raw(admin_api, "/api/idols/", TOO_BIG), 413, "too_large")
    form = admin_api.post("/api/idols/", data=b"name=" + TOO_BIG, content_type="application/x-www-form-urlencoded")
    assert_error_shape(form, 413, "too_large")


def test_a_body_refused_before_any_view_ran_answers_the_error_shape_under_api(rf):
    response = bad_request_view(rf.post("/api/idols/"), RequestDataTooBig("too big"))
    assert response.status_code == 413 and json.loads(response.content)["error"] == "too_large"
    response = bad_request_view(rf.get("/api/idols/"), SuspiciousOperation("bad host"))
    assert response.status_code == 400 and set(json.loads(response.content)) == {"error", "detail", "fields"}
    assert bad_request_view(rf.post("/label/"), RequestDataTooBig("too big")).status_code == 400  # Django's page


# --- the labeling pages' JSON actions -------------------------------------------------------


def assert_page_error(response, status: int) -> dict:
    """The pages' JSON actions answer errors in the API's shape."""
    return assert_error_shape(response, status)


def test_pages_refuse_deep_json(page):
    for name in ("labeling:api-label", "labeling:idol-create", "labeling:api-undo"):
        assert_page_error(post_raw(page, reverse(name), DEEP), 400)


def test_pages_refuse_ids_beyond_the_database_range(page, world):
    url = reverse("labeling:api-label")
    body = {"face_ids": [2**70], "idol": world.idol.pk}
    assert assert_page_error(post_raw(page, url, json.dumps(body).encode()), 400)["error"] == "invalid"
    body = {"face_ids": [world.unlabeled.pk], "idol": 2**70}
    assert_page_error(post_raw(page, url, json.dumps(body).encode()), 400)
    assert not FaceLabel.objects.filter(face=world.unlabeled).exists()


def test_pages_refuse_lone_surrogates(page):
    idols = Idol.all_objects.count()
    response = post_raw(page, reverse("labeling:idol-create"), b'{"name": "\\ud800"}')
    assert "surrogate" in assert_page_error(response, 400)["detail"]
    assert Idol.all_objects.count() == idols


def test_grid_refuses_an_idol_filter_beyond_the_database_range(page):
    assert page.get(reverse("labeling:grid"), {"idol": "99999999999999999999"}).status_code == 400


def test_pages_refuse_an_oversized_body(page):
    assert assert_page_error(post_raw(page, reverse("labeling:api-label"), TOO_BIG), 413)["error"] == "too_large"
