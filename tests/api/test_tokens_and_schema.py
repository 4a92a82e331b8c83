"""Tokens (obtain, see, revoke), sessions, the error shape of authentication, the schema and
its documentation pages."""

from __future__ import annotations

import importlib
import re
from datetime import timedelta

import pytest
import yaml
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from idolsite.tokens import token_obtain
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
    first = response.json()
    token = first["token"]
    assert first["prefix"] == token[:15] and first["username"] == "mai" and first["expiry"]
    # Each sign-in is a new token; the earlier one stays valid.
    second = client.post("/api/auth/token/", {"username": "mai", "password": "pw-mai-123"}).json()["token"]
    assert second != token
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    listed = client.get("/api/auth/token/").json()
    assert sorted(item["prefix"] for item in listed) == sorted([token[:15], second[:15]])
    assert all(set(item) == {"prefix", "created", "expiry"} for item in listed)
    # DELETE revokes the token it is sent with, not the others.
    assert client.delete("/api/auth/token/").status_code == 204
    assert [t.token_key for t in AuthToken.objects.filter(user=person)] == [second[:15]]
    response = client.get("/api/photos/")
    assert response.status_code == 401 and response.json()["error"] == "authentication_failed"
    client.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert client.get("/api/photos/").status_code == 200
    assert client.delete("/api/auth/token/?all=1").status_code == 204
    assert not AuthToken.objects.filter(user=person).exists()
    assert client.get("/api/photos/").status_code == 401


def test_the_database_holds_no_token_in_plain_text(person):
    token = APIClient().post("/api/auth/token/", {"username": "mai", "password": "pw-mai-123"}).json()["token"]
    with connection.cursor() as cursor:
        tables = [t for t in connection.introspection.table_names(cursor) if "token" in t]
        assert tables
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                assert not any(isinstance(value, str) and token in value for value in row), table
    assert not Token.objects.exists()


def test_an_expired_token_is_refused(person):
    instance, token = AuthToken.objects.create(user=person)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/photos/").status_code == 200
    AuthToken.objects.filter(pk=instance.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/photos/")
    assert response.status_code == 401 and response.json()["error"] == "authentication_failed"


def test_a_used_token_moves_its_expiry_forward(person, settings):
    instance, token = AuthToken.objects.create(user=person)
    soon = timezone.now() + timedelta(days=1)
    AuthToken.objects.filter(pk=instance.pk).update(expiry=soon)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/photos/").status_code == 200
    assert AuthToken.objects.get(pk=instance.pk).expiry > soon + timedelta(days=80)


def test_a_user_keeps_at_most_the_newest_tokens(person, settings):
    settings.IDOLSITE_TOKENS_PER_USER = 2
    tokens = [token_obtain(user=person)[1] for _ in range(3)]
    assert sorted(AuthToken.objects.filter(user=person).values_list("token_key", flat=True)) == sorted(
        t[:15] for t in tokens[1:]
    )


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
        # No script, style sheet, font or icon from another host (Redoc's page asked Google for fonts).
        external = re.findall(r'(?:src|href)="((?:https?:)?//[^"]*)"', html)
        assert external == [] and "fonts.googleapis" not in html and "fonts.gstatic" not in html, (url, external)
    assert '"validatorUrl": null' in client.get("/api/docs/").content.decode()


def test_plain_tokens_are_hashed_by_the_migration_and_keep_working(person):
    migration = importlib.import_module("labeling.migrations.0002_hash_api_tokens")
    plain = Token.objects.create(user=person)
    migration.hash_plain_tokens(django_apps, None)
    assert not Token.objects.exists()
    stored = AuthToken.objects.get(user=person)
    assert stored.digest != plain.key and plain.key not in stored.digest
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plain.key}")
    assert client.get("/api/photos/").status_code == 200


def test_the_anonymous_throttle_ignores_a_forged_forwarded_for(settings):
    codes = [
        APIClient(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
        .post("/api/auth/token/", {})
        .status_code
        for i in range(31)
    ]
    assert codes[:30] == [400] * 30 and codes[30] == 429
