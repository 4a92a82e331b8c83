"""The authorization matrix: every endpoint under /api/ x {anonymous, no role, viewer, labeler,
admin}.

The endpoints are read from the URL configuration: an API URL (or method) missing from MATRIX
fails ``test_every_api_endpoint_is_in_the_matrix``, so no endpoint escapes it. Each entry
names the weakest role allowed and the status of a successful call; anonymous callers get 401
(unless the endpoint is public), weaker roles 403. A signed-in user without a role calls
nothing but the public endpoints and their own token (``SIGNED_IN``). Each call runs on a fresh world
(tests/api/world.py) with a request that succeeds for an allowed role.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from labeling import services
from tests.api.conftest import ROLES
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

PUBLIC = "public"
SIGNED_IN = "signed_in"  # any signed-in user, with a role or not
RANK = {"anonymous": 0, "norole": 1, SIGNED_IN: 1, "viewer": 2, "labeler": 3, "admin": 4}
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Endpoint:
    role: str  # the weakest role allowed: public, signed_in, viewer, labeler or admin
    status: int  # the answer to an allowed caller
    kwargs: Callable[[Any], dict[str, Any]] = lambda w: {}
    body: Callable[[Any, Any], Any] = lambda w, user: None
    multipart: bool = False
    query: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _pk(attr: str) -> Callable[[Any], dict[str, Any]]:
    return lambda w: {"pk": getattr(w, attr).pk}


def _image(w: Any, user: Any) -> dict[str, Any]:
    return {"image": SimpleUploadedFile("new.jpg", image_bytes(120, 90))}


def _own_batch(w: Any, user: Any) -> dict[str, str]:
    batch = uuid.uuid4()
    services.face_label(face=w.unlabeled, idol=w.other, user=user, batch=batch)
    return {"batch": str(batch)}


def _token_body(w: Any, user: Any) -> dict[str, str]:
    return {"username": "owner", "password": "pw-owner-1"}


SOURCE = {"kind": "rss", "name": "Feed", "locator": "https://example.org/feed.xml", "poll_interval_minutes": 60}

# (URL name, method) -> who may call it. When merging a new app's endpoints, add each here.
MATRIX: dict[tuple[str, str], Endpoint] = {
    # tokens, schema and documentation
    ("api:token", "post"): Endpoint(PUBLIC, 200, body=_token_body),
    ("api:token", "get"): Endpoint(SIGNED_IN, 200),
    ("api:token", "delete"): Endpoint(SIGNED_IN, 204),
    ("api:schema", "get"): Endpoint(PUBLIC, 200),
    ("api:docs", "get"): Endpoint(PUBLIC, 200),
    ("api:redoc", "get"): Endpoint(PUBLIC, 200),
    # detection
    ("api:detect", "post"): Endpoint("viewer", 200, body=_image, multipart=True),
    # photos
    ("api:photo-list", "get"): Endpoint("viewer", 200),
    ("api:photo-list", "post"): Endpoint("labeler", 201, body=_image, multipart=True),
    ("api:photo-detail", "get"): Endpoint("viewer", 200, kwargs=_pk("photo")),
    ("api:photo-trash", "post"): Endpoint("admin", 200, kwargs=_pk("photo")),
    ("api:photo-restore", "post"): Endpoint("admin", 200, kwargs=_pk("trashed_photo")),
    ("api:photo-faces", "post"): Endpoint(
        "labeler", 201, kwargs=_pk("photo"), body=lambda w, u: {"box": [20, 100, 40, 40]}
    ),
    # sources
    ("api:source-list", "get"): Endpoint("viewer", 200),
    ("api:source-list", "post"): Endpoint("admin", 201, body=lambda w, u: SOURCE),
    ("api:source-detail", "get"): Endpoint("viewer", 200, kwargs=_pk("source")),
    ("api:source-detail", "put"): Endpoint("admin", 200, kwargs=_pk("source"), body=lambda w, u: SOURCE),
    ("api:source-detail", "patch"): Endpoint("admin", 200, kwargs=_pk("source"), body=lambda w, u: {"enabled": False}),
    ("api:source-detail", "delete"): Endpoint("admin", 204, kwargs=_pk("source")),
    ("api:source-crawl", "post"): Endpoint("admin", 202, kwargs=_pk("source")),
    # faces and labels
    ("api:face-list", "get"): Endpoint("viewer", 200),
    ("api:face-detail", "get"): Endpoint("viewer", 200, kwargs=_pk("labeled")),
    # similar faces: the world's faces have no vectors, so an allowed caller gets past the role
    # check to 409 no_embeddings (tests/api/test_similar.py answers 200 with vectors)
    ("api:face-similar", "get"): Endpoint("viewer", 409, kwargs=_pk("labeled"), query="?k=5"),
    ("api:face-labels", "post"): Endpoint(
        "labeler", 201, kwargs=_pk("unlabeled"), body=lambda w, u: {"idol": w.idol.pk}
    ),
    ("api:face-unlabel", "delete"): Endpoint(
        "labeler", 200, kwargs=lambda w: {"pk": w.labeled.pk, "idol_id": w.idol.pk}
    ),
    ("api:face-exclude", "post"): Endpoint(
        "labeler", 200, kwargs=_pk("unlabeled"), body=lambda w, u: {"reason": "not_target"}
    ),
    ("api:face-include", "post"): Endpoint("labeler", 200, kwargs=_pk("excluded")),
    ("api:face-bulk-label", "post"): Endpoint(
        "labeler", 200, body=lambda w, u: {"faces": [w.labeled.pk, w.unlabeled.pk], "idol": w.other.pk}
    ),
    ("api:face-bulk-unlabel", "post"): Endpoint(
        "labeler", 200, body=lambda w, u: {"faces": [w.labeled.pk], "idol": w.idol.pk}
    ),
    ("api:face-bulk-exclude", "post"): Endpoint(
        "labeler", 200, body=lambda w, u: {"faces": [w.labeled.pk, w.unlabeled.pk], "reason": "bad_crop"}
    ),
    ("api:face-bulk-include", "post"): Endpoint("labeler", 200, body=lambda w, u: {"faces": [w.excluded.pk]}),
    # idols
    ("api:idol-list", "get"): Endpoint("viewer", 200, query="?q=suzu"),
    ("api:idol-list", "post"): Endpoint("labeler", 201, body=lambda w, u: {"name": "New Idol"}),
    ("api:idol-detail", "get"): Endpoint("viewer", 200, kwargs=_pk("idol")),
    ("api:idol-detail", "patch"): Endpoint("admin", 200, kwargs=_pk("idol"), body=lambda w, u: {"notes": "center"}),
    ("api:idol-similar", "get"): Endpoint("viewer", 409, kwargs=_pk("idol"), query="?limit=5"),
    ("api:idol-graduate", "post"): Endpoint("admin", 200, kwargs=_pk("idol")),
    ("api:idol-retire", "post"): Endpoint("admin", 200, kwargs=_pk("idol")),
    ("api:idol-restore", "post"): Endpoint("admin", 200, kwargs=_pk("graduated")),
    ("api:idol-rename", "post"): Endpoint("admin", 200, kwargs=_pk("idol"), body=lambda w, u: {"name": "Su-metal"}),
    ("api:idol-merge", "post"): Endpoint("admin", 200, kwargs=_pk("other"), body=lambda w, u: {"into": w.idol.pk}),
    # groups and memberships
    ("api:group-list", "get"): Endpoint("viewer", 200),
    ("api:group-list", "post"): Endpoint("admin", 201, body=lambda w, u: {"name": "BABYMETAL"}),
    ("api:group-detail", "get"): Endpoint("viewer", 200, kwargs=_pk("group")),
    ("api:group-detail", "patch"): Endpoint("admin", 200, kwargs=_pk("group"), body=lambda w, u: {"reading": "さくら"}),
    ("api:group-detail", "delete"): Endpoint("admin", 204, kwargs=_pk("empty_group")),
    ("api:membership-list", "get"): Endpoint("viewer", 200),
    ("api:membership-list", "post"): Endpoint(
        "admin", 201, body=lambda w, u: {"idol": w.other.pk, "group": w.group.pk, "joined": "2010-04-01"}
    ),
    ("api:membership-detail", "get"): Endpoint("viewer", 200, kwargs=_pk("membership")),
    ("api:membership-detail", "patch"): Endpoint(
        "admin", 200, kwargs=_pk("membership"), body=lambda w, u: {"left": "2013-03-31"}
    ),
    ("api:membership-detail", "delete"): Endpoint("admin", 204, kwargs=_pk("membership")),
    # the label history
    ("api:labelevent-list", "get"): Endpoint("viewer", 200),
    ("api:labelevent-detail", "get"): Endpoint(
        "viewer", 200, kwargs=lambda w: {"pk": w.labeled.label_events.first().pk}
    ),
    ("api:labelevent-undo", "post"): Endpoint("labeler", 200, body=_own_batch),
    # dataset exports: labelers start, see and download them; deleting another's needs an admin
    ("api:datasetexport-list", "get"): Endpoint("labeler", 200),
    ("api:datasetexport-list", "post"): Endpoint("labeler", 202, body=lambda w, u: {"format": "coco"}),
    ("api:datasetexport-detail", "get"): Endpoint("labeler", 200, kwargs=_pk("export")),
    ("api:datasetexport-download", "get"): Endpoint("labeler", 200, kwargs=_pk("export")),
    ("api:datasetexport-detail", "delete"): Endpoint("admin", 204, kwargs=_pk("export")),
    # the classifier: recognition (409 until a model is active), training runs, model versions
    ("api:recognize", "post"): Endpoint("viewer", 409, body=_image, multipart=True),
    ("api:trainingrun-list", "get"): Endpoint("viewer", 200),
    ("api:trainingrun-list", "post"): Endpoint("admin", 202, body=lambda w, user: {"epochs": 3}),
    ("api:trainingrun-detail", "get"): Endpoint("viewer", 200, kwargs=_pk("run")),
    ("api:trainingrun-cancel", "post"): Endpoint("admin", 200, kwargs=_pk("run")),
    ("api:modelversion-list", "get"): Endpoint("viewer", 200),
    ("api:modelversion-detail", "get"): Endpoint("viewer", 200, kwargs=_pk("version")),
    ("api:modelversion-activate", "post"): Endpoint("admin", 200, kwargs=_pk("version")),
    # active learning: suggestions and clusters of unknown faces
    ("api:suggestions", "get"): Endpoint("viewer", 200),
    ("api:suggestions-stats", "get"): Endpoint("viewer", 200),
    ("api:suggestions-for-faces", "get"): Endpoint("viewer", 200, query="?faces=1,2"),
    ("api:suggestions-accept", "post"): Endpoint(
        "labeler", 200, body=lambda w, user: {"faces": [w.unlabeled.pk], "idol": w.other.pk}
    ),
    ("api:suggestions-reject", "post"): Endpoint(
        "labeler", 200, body=lambda w, user: {"faces": [w.unlabeled.pk], "idol": w.other.pk}
    ),
    ("api:clusters", "get"): Endpoint("viewer", 200),
    ("api:cluster-name", "post"): Endpoint(
        "labeler", 200, kwargs=_pk("cluster"), body=lambda w, user: {"idol": w.other.pk}
    ),
    ("api:cluster-split", "post"): Endpoint(
        "labeler", 200, kwargs=_pk("cluster"), body=lambda w, user: {"faces": [w.unlabeled.pk]}
    ),
}


def api_endpoints() -> set[tuple[str, str]]:
    """Every (URL name, method) the URL configuration serves under /api/."""
    found: set[tuple[str, str]] = set()
    unnamed: list[str] = []

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern).lstrip("^").rstrip("$")
            if isinstance(entry, URLResolver):
                ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, route, ns)
            elif isinstance(entry, URLPattern) and route.startswith("api/"):
                if not entry.name:
                    unnamed.append(route)
                    continue
                for method in _methods(entry.callback):
                    found.add((namespace + entry.name, method))

    walk(get_resolver().url_patterns, "", "")
    assert not unnamed, f"API URLs need a name (for the authorization matrix): {unnamed}"
    return found


def _methods(callback: Any) -> list[str]:
    actions = getattr(callback, "actions", None)
    if actions:  # a viewset route: the methods it maps
        return [m for m in actions if m in METHODS]
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:  # a plain function view: whatever it answers
        return ["get"]
    return [m for m in METHODS if hasattr(view_class, m)]


def test_every_api_endpoint_is_in_the_matrix():
    served = api_endpoints()
    missing = sorted(served - set(MATRIX))
    stale = sorted(set(MATRIX) - served)
    assert not missing, f"add these endpoints to MATRIX in {__file__}: {missing}"
    assert not stale, f"MATRIX lists endpoints that no longer exist: {stale}"


def expected_status(endpoint: Endpoint, role: str) -> int:
    if endpoint.role == PUBLIC:
        return endpoint.status
    if role == "anonymous":
        return 401
    return endpoint.status if RANK[role] >= RANK[endpoint.role] else 403


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(MATRIX), ids=lambda key: f"{key[1].upper()} {key[0]}")
def test_authorization(key, role, make_api, world, scripted):
    name, method = key
    endpoint = MATRIX[key]
    client = make_api(role)
    url = reverse(name, kwargs=endpoint.kwargs(world)) + endpoint.query
    body = endpoint.body(world, client.user or world.user)
    if endpoint.multipart:
        response = getattr(client, method)(url, body, format="multipart")
    else:
        response = getattr(client, method)(url, body, format="json")
    assert response.status_code == expected_status(endpoint, role), (role, url, response.content[:300])
    if response.status_code in (401, 403):
        body = response.json()
        assert set(body) == {"error", "detail", "fields"}
        assert body["error"] == ("not_authenticated" if role == "anonymous" else "permission_denied")
        if role == "anonymous":
            assert response["WWW-Authenticate"] == "Token"


def test_matrix_walks_included_url_modules():
    """The walk sees endpoints of every app (and would see a classifier's)."""
    served = api_endpoints()
    assert ("api:detect", "post") in served and ("api:labelevent-undo", "post") in served
