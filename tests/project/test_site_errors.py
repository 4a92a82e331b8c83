"""Error answers in DEBUG as in production: the API answers its JSON shape (a URL no view
matches, a method refused, a server error), never Django's HTML debug page; a missing photo or
face gets the site's 404 page, in its layout and language. And the favicon."""

from __future__ import annotations

import pytest
from django.urls import path

from core.errors import error_body
from labeling.roles import assign_role

pytestmark = pytest.mark.django_db


def boom(request):
    raise RuntimeError("a bug in a view")


# The project's URLs plus one view that fails, under /api/ and outside it.
urlpatterns = [
    path("api/test-boom/", boom),
    path("label/test-boom/", boom),
    *__import__("idolsite.urls", fromlist=["urlpatterns"]).urlpatterns,
]
handler404 = "idolsite.views.not_found_view"
handler500 = "idolsite.views.server_error_view"


@pytest.fixture
def viewer_client(client, django_user_model):
    user = django_user_model.objects.create_user(username="viewer", password="pw-123456")
    assign_role(user, "viewer")
    client.force_login(user)
    return client


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def assert_api_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert body["error"] == code and body["detail"] and set(body) >= set(error_body(code, ""))
    return body


def test_an_unmatched_api_url_answers_json(client, debug):
    assert_api_error(client.get("/api/no-such-thing/"), 404, "not_found")
    assert_api_error(client.post("/api/photos/999999/nothing/"), 404, "not_found")


def test_a_wrong_method_answers_json(viewer_client, debug):
    response = viewer_client.put("/api/photos/")
    assert viewer_client.put("/api/schema/").status_code == 405
    body = assert_api_error(response, 405, "method_not_allowed")
    assert "PUT" in body["detail"]
    assert "GET" in response["Allow"]


def test_a_server_error_answers_json(client, settings, debug):
    settings.ROOT_URLCONF = __name__
    client.raise_request_exception = False
    assert_api_error(client.get("/api/test-boom/"), 500, "server_error")


def test_a_server_error_in_debug_is_logged(client, settings, caplog):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = True
    with caplog.at_level("ERROR", logger="django.request"):
        assert_api_error(client.get("/api/test-boom/"), 500, "server_error")
    assert any("a bug in a view" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_a_page_that_fails_in_debug_keeps_the_debug_page(client, settings):
    """Outside /api/ a developer wants the traceback."""
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = True
    with pytest.raises(RuntimeError):
        client.get("/label/test-boom/")


def test_a_missing_photo_gets_the_sites_404_page(viewer_client, debug):
    response = viewer_client.get("/label/photos/999999/")
    assert response.status_code == 404
    text = response.content.decode()
    assert '<header class="top">' in text and "Not found" in text and "Back to the faces" in text
    assert "Technical" not in text and "Django tried these URL patterns" not in text
    assert '<span class="role">' in text  # the header knows who is signed in


def test_the_404_page_speaks_japanese(viewer_client, debug):
    response = viewer_client.get("/label/photos/999999/", HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 404 and '<html lang="ja">' in response.content.decode()
    assert "見つかりません" in response.content.decode()


def test_an_unmatched_page_url_is_a_404(client, debug):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    if not debug:
        assert b"Back to the faces" in response.content


def test_the_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("labeling/favicon.svg")
    page = client.get("/label/login/").content.decode()
    assert 'rel="icon" href="/static/labeling/favicon.svg"' in page and 'href="data:,"' not in page


def test_the_admin_links_the_favicon(admin_client):
    assert b'rel="icon" href="/static/labeling/favicon.svg"' in admin_client.get("/admin/").content
