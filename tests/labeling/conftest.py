"""Users with each role of the labeling pages."""

from __future__ import annotations

import pytest

from labeling.roles import assign_role


@pytest.fixture
def make_user(django_user_model):
    def make(role: str | None, username: str | None = None):
        user = django_user_model.objects.create_user(username=username or f"u-{role}", password="pw-123456")
        if role:
            assign_role(user, role)
        return user

    return make


@pytest.fixture
def viewer(make_user):
    return make_user("viewer")


@pytest.fixture
def labeler(make_user):
    return make_user("labeler")


@pytest.fixture
def idol_admin(make_user):
    return make_user("admin")


@pytest.fixture
def as_labeler(client, labeler):
    client.force_login(labeler)
    return client
