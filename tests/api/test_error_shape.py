"""A refusal answers the same status and shape through a labeling page's JSON action and
through the API endpoint of the same action: ``{"error": code, "detail": message, "fields"}``."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from labeling import services
from labeling.models import FaceLabel
from labeling.roles import assign_role


@pytest.fixture
def page(labeler_api) -> Client:
    """A browser session of the labeler that holds ``labeler_api``'s token."""
    client = Client()
    client.force_login(labeler_api.user)
    return client


def _page(client: Client, name: str, payload: dict) -> tuple[int, dict]:
    response = client.post(reverse(name), data=json.dumps(payload), content_type="application/json")
    return response.status_code, response.json()


def _api(client, name: str, payload: dict, **kwargs) -> tuple[int, dict]:
    response = client.post(reverse(name, kwargs=kwargs or None), payload, format="json")
    return response.status_code, response.json()


def _same(page_answer: tuple[int, dict], api_answer: tuple[int, dict], status: int, code: str) -> None:
    for where, (answered, body) in (("page", page_answer), ("api", api_answer)):
        assert answered == status, (where, body)
        assert set(body) == {"error", "detail", "fields"}, (where, body)
        assert body["error"] == code and body["detail"], (where, body)


def test_missing_faces_are_a_404_in_pages_and_api(page, labeler_api, world):
    before = FaceLabel.objects.count()
    faces = [world.unlabeled.pk, 999999]
    _same(
        _page(page, "labeling:api-label", {"face_ids": faces, "idol": world.idol.pk}),
        _api(labeler_api, "api:face-bulk-label", {"faces": faces, "idol": world.idol.pk}),
        404,
        "not_found",
    )
    assert FaceLabel.objects.count() == before


def test_labeling_an_excluded_face_is_a_409_in_pages_and_api(page, labeler_api, world):
    _same(
        _page(page, "labeling:api-label", {"face_ids": [world.excluded.pk], "idol": world.idol.pk}),
        _api(labeler_api, "api:face-bulk-label", {"faces": [world.excluded.pk], "idol": world.idol.pk}),
        409,
        "face_excluded",
    )


def test_undo_refusals_answer_alike_in_pages_and_api(page, labeler_api, world, django_user_model):
    missing = {"batch": str(uuid.uuid4())}
    _same(
        _page(page, "labeling:api-undo", missing), _api(labeler_api, "api:labelevent-undo", missing), 404, "not_found"
    )

    someone = django_user_model.objects.create_user(username="someone", password="pw-123456")
    assign_role(someone, "labeler")
    theirs = uuid.uuid4()
    services.face_label(face=world.unlabeled, idol=world.other, user=someone, batch=theirs)
    not_mine = {"batch": str(theirs)}
    _same(
        _page(page, "labeling:api-undo", not_mine), _api(labeler_api, "api:labelevent-undo", not_mine), 403, "forbidden"
    )

    mine = uuid.uuid4()
    services.face_label(face=world.unlabeled, idol=world.idol, user=labeler_api.user, batch=mine)
    services.label_batch_undo(batch=mine, user=labeler_api.user)
    again = {"batch": str(mine)}
    _same(
        _page(page, "labeling:api-undo", again), _api(labeler_api, "api:labelevent-undo", again), 409, "already_undone"
    )
