"""Text PostgreSQL cannot store (NUL, unpaired UTF-16 surrogates) is a 400, never a 500."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from faces.models import Source

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("options", ['{"\\udaa8k": "v"}', '{"k": "\\ud800"}', '{"k": ["a\\u0000b"]}'])
def test_source_options_the_database_cannot_store_are_refused(admin_user, options):
    client = APIClient()
    client.force_authenticate(admin_user)
    body = '{"kind": "x", "name": "n", "locator": "someone", "options": ' + options + "}"
    response = client.post("/api/sources/", data=body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid" and "options" in response.json()["fields"]
    assert not Source.objects.exists()
