"""Tokens (obtain, see, revoke), sessions, the error shape of authentication, the schema and
its documentation pages."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.roles import assign_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(django_user_model):
    user = django_user_model.objects.create_user(username="mai", password="pw-mai-123")
    assign_role(user, "viewer")
    return user


def test_obtain_use_list_and_revoke_a_token(person):
    client = APIClient()
    response = client.post("/api/auth/token/", {"username": "mai", "password": "pw-mai-123"}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert client.post("/api/auth/token/", {"username": "mai", "password": "pw-mai-123"}).json()["token"] == token
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/auth/token/").json() == [{"prefix": token[:8], "created": response.json()["created"]}]
    assert client.delete("/api/auth/token/").status_code == 204
    assert not Token.objects.filter(user=person).exists()
    response = client.get("/api/photos/")
    assert response.status_code == 401 and response.json()["error"] == "authentication_failed"
    fresh = APIClient().post("/api/auth/token/", {"username": "mai", "password": "pw-mai-123"}).json()["token"]
    assert fresh != token


def test_wrong_password_is_a_400_in_the_error_shape(person):
    response = APIClient().post("/api/auth/token/", {"username": "mai", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid",
        "detail": "wrong username or password",
        "fields": {"non_field_errors": ["wrong username or password"]},
    }


def test_a_user_without_a_role_is_refused(django_user_model):
    user = django_user_model.objects.create_user(username="nobody", password="pw-nobody-1")
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/photos/")
    assert response.status_code == 403 and response.json()["error"] == "permission_denied"
    assert client.get("/api/auth/token/").status_code == 200  # their own token, though


def test_sessions_work_and_writes_need_the_csrf_token(client, person):
    client.force_login(person)
    assert client.get("/api/photos/").status_code == 200
    csrf_client = type(client)(enforce_csrf_checks=True)
    csrf_client.force_login(person)
    response = csrf_client.delete("/api/auth/token/")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_schema_is_valid_openapi_and_documents_the_error_shape(client, tmp_path):
    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    schema = yaml.safe_load(path.read_text())
    assert schema["openapi"].startswith("3.")
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"error", "detail", "fields", "existing"}
    upload = schema["paths"]["/api/photos/"]["post"]
    assert {"201", "400", "401", "403", "409", "429"} <= set(upload["responses"])
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert client.get("/api/schema/").status_code == 200


def test_docs_are_served_without_a_cdn(client):
    for url in ("/api/docs/", "/api/redoc/"):
        html = client.get(url).content.decode()
        assert "/static/drf_spectacular_sidecar/" in html and "cdn.jsdelivr" not in html, url
