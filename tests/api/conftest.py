"""API clients for each role (token authentication) and a small world to act on."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from knox.models import AuthToken
from rest_framework.test import APIClient

from labeling.roles import assign_role
from tests.api.world import World, build_world
from tests.faces.conftest import scripted  # noqa: F401  (the fake detector, for /api/detect/)

ROLES = ("anonymous", "norole", "viewer", "labeler", "admin")  # norole: signed in, no role


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()  # throttle counters live in the cache
    yield
    cache.clear()


@pytest.fixture
def make_api(django_user_model):
    """``make_api(role)``: an APIClient with a token of a new user holding that role (no role
    for "norole", no user for "anonymous"); ``client.user`` is the user."""

    def make(role: str, username: str | None = None) -> APIClient:
        client = APIClient()
        client.user = None
        if role == "anonymous":
            return client
        user = django_user_model.objects.create_user(username=username or f"api-{role}", password="pw-123456")
        if role != "norole":
            assign_role(user, role)
        client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
        client.user = user
        return client

    return make


@pytest.fixture
def viewer_api(make_api):
    return make_api("viewer")


@pytest.fixture
def labeler_api(make_api):
    return make_api("labeler")


@pytest.fixture
def admin_api(make_api):
    return make_api("admin")


@pytest.fixture
def world(django_user_model) -> World:
    owner = django_user_model.objects.create_user(username="owner", password="pw-owner-1")
    assign_role(owner, "labeler")
    return build_world(owner)
