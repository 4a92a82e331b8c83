"""Suggestions beside the faces of a page (the grid, the photo page): GET
/api/suggestions/for-faces/ reads them, the review page's JSON actions accept (per face, one
batch) and reject them, and the labeling undo takes an acceptance back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from classifier.models import Suggestion, SuggestionRejection
from classifier.services import suggestions_reject
from faces.services import photo_trash
from labeling.models import FaceLabel, How, LabelEvent
from labeling.roles import LABELER, VIEWER, assign_role
from labeling.services import face_exclude, face_label, idol_merge, idol_soft_delete
from tests.classifier.suggest_fixtures import make_suggestion, new_version
from tests.factories import make_face, make_idol

pytestmark = pytest.mark.django_db

URL = "/api/suggestions/for-faces/"


def api_for(django_user_model, role: str | None) -> APIClient:
    user = django_user_model.objects.create_user(username=f"fs-{role}", password="pw-fs-12345")
    if role:
        assign_role(user, role)
    client = APIClient()
    client.force_authenticate(user)
    return client


def page_client(django_user_model, role: str) -> tuple[Client, object]:
    user = django_user_model.objects.create_user(username=f"page-{role}", password="pw-page-12345")
    assign_role(user, role)
    client = Client()
    client.force_login(user)
    return client, user


def ids(faces) -> str:
    return ",".join(str(f.pk) for f in faces)


@pytest.fixture
def world():
    aoi, beni, chiyo, dai = (make_idol(n) for n in ("Aoi", "Beni", "Chiyo", "Dai"))
    version = new_version([aoi, beni, chiyo, dai])
    faces = [make_face() for _ in range(3)]
    make_suggestion(faces[0], version, [(aoi, 0.6), (beni, 0.2), (chiyo, 0.1), (dai, 0.05)])
    make_suggestion(faces[1], version, [(beni, 0.7), (aoi, 0.2), (dai, 0.1)])
    make_suggestion(faces[2], version, [(chiyo, 0.3), (aoi, 0.25), (beni, 0.2)], unknown=True)
    return {"idols": (aoi, beni, chiyo, dai), "version": version, "faces": faces}


def results(api, faces) -> dict[int, dict]:
    response = api.get(URL, {"faces": ids(faces)})
    assert response.status_code == 200, response.content
    return {r["face"]: r for r in response.json()["results"]}


def names(row: dict) -> list[str]:
    return [g["name"] for g in row["top"]]


def test_top_three_with_probabilities_in_the_order_asked(django_user_model, world):
    api = api_for(django_user_model, VIEWER)
    first, second, unknown = world["faces"]
    body = api.get(URL, {"faces": ids([second, first, unknown])}).json()["results"]
    assert [r["face"] for r in body] == [second.pk, first.pk, unknown.pk]
    row = body[1]
    assert row == {
        "face": first.pk,
        "model": world["version"].pk,
        "unknown": False,
        "top": [
            {"idol": world["idols"][0].pk, "name": "Aoi", "idol_status": "active", "probability": 0.6},
            {"idol": world["idols"][1].pk, "name": "Beni", "idol_status": "active", "probability": 0.2},
            {"idol": world["idols"][2].pk, "name": "Chiyo", "idol_status": "active", "probability": 0.1},
        ],
    }
    # "Unknown" is said; the list stays for clients that want it.
    assert body[2]["unknown"] is True and names(body[2]) == ["Chiyo", "Aoi", "Beni"]


def test_only_unlabeled_visible_faces_of_the_active_model(django_user_model, world):
    api = api_for(django_user_model, VIEWER)
    first, second, unknown = world["faces"]
    no_row, old_only = make_face(), make_face()
    aoi = world["idols"][0]
    old = world["version"]
    current = new_version(list(world["idols"]))
    make_suggestion(old_only, old, [(aoi, 0.9)])
    for face in world["faces"]:
        row = Suggestion.objects.get(face=face)
        make_suggestion(face, current, [(world["idols"][1], 0.5), (aoi, 0.4)], unknown=row.unknown)
    face_label(face=first, idol=aoi)
    face_exclude(face=second, reason="not_target")
    found = results(api, [first, second, unknown, no_row, old_only])
    assert list(found) == [unknown.pk] and found[unknown.pk]["model"] == current.pk
    photo_trash(photo=unknown.photo)
    assert results(api, [unknown]) == {}


def test_rejected_idols_are_left_out_and_the_rest_rescaled(django_user_model, world):
    api = api_for(django_user_model, VIEWER)
    first = world["faces"][0]
    aoi, beni = world["idols"][:2]
    suggestions_reject(faces=[first], idol=aoi)
    row = results(api, [first])[first.pk]
    assert names(row) == ["Beni", "Chiyo", "Dai"]
    # "Not Aoi" leaves the others their share of what is left: 0.2 / (1 - 0.6).
    assert [g["probability"] for g in row["top"]] == [0.5, 0.25, 0.125]
    stored = Suggestion.objects.get(face=first)
    assert (stored.idol_id, stored.probability) == (beni.pk, 0.5)


def test_merged_idols_hidden_graduated_ones_marked(django_user_model, world):
    api = api_for(django_user_model, VIEWER)
    first, second, _ = world["faces"]
    aoi, beni, _, dai = world["idols"]
    idol_merge(keep=dai, drop=aoi)  # Aoi was Dai all along: the model's Aoi is no one now
    idol_soft_delete(idol=beni, reason="graduated")  # her old photos keep coming
    found = results(api, [first, second])
    assert names(found[first.pk]) == ["Beni", "Chiyo", "Dai"]
    assert [g["idol_status"] for g in found[first.pk]["top"]] == ["graduated", "active", "active"]
    assert names(found[second.pk]) == ["Beni", "Dai"]


def test_queries_do_not_grow_with_the_faces(django_user_model, world):
    api = api_for(django_user_model, VIEWER)
    many = [make_face() for _ in range(40)]
    for i, face in enumerate(many):
        make_suggestion(face, world["version"], [(world["idols"][i % 4], 0.5), (world["idols"][(i + 1) % 4], 0.3)])
        if i % 3 == 0:
            suggestions_reject(faces=[face], idol=world["idols"][i % 4])
    results(api, many)  # the caller's role is read once, then cached
    counts = []
    for faces in (world["faces"][:1], many):
        with CaptureQueriesContext(connection) as queries:
            found = results(api, faces)
        assert len(found) == len(faces)
        counts.append(len(queries))
    # The rows, the rejections, the idols: three whatever the number of faces.
    assert counts == [3, 3], counts


@pytest.mark.parametrize(
    "query",
    ["", "faces=", "faces=abc", "faces=0", "faces=1,,-2", "faces=" + ",".join(["1"] * 501), f"faces={2**63}"],
)
def test_bad_face_lists_are_refused_clearly(django_user_model, world, query):
    api = api_for(django_user_model, VIEWER)
    response = api.get(f"{URL}?{query}")
    assert response.status_code == 400 and response.json()["error"] == "invalid"
    assert "faces" in response.json()["fields"]


def test_roles(django_user_model, world):
    assert APIClient().get(URL, {"faces": ids(world["faces"])}).status_code in (401, 403)
    assert api_for(django_user_model, None).get(URL, {"faces": ids(world["faces"])}).status_code == 403
    assert api_for(django_user_model, VIEWER).get(URL, {"faces": ids(world["faces"])}).status_code == 200
    viewer, _ = page_client(django_user_model, VIEWER)
    first = world["faces"][0]
    choices = {"choices": [{"face": first.pk, "idol": world["idols"][0].pk}]}
    response = viewer.post("/review/api/accept/", choices, content_type="application/json")
    assert response.status_code == 403 and not FaceLabel.objects.exists()


def test_accept_each_face_its_own_first_idol_in_one_batch_then_undo(django_user_model, world):
    labeler, _ = page_client(django_user_model, LABELER)
    first, second, _ = world["faces"]
    aoi, dai = world["idols"][0], world["idols"][3]
    choices = [{"face": first.pk, "idol": aoi.pk}, {"face": second.pk, "idol": dai.pk}]  # Dai: second's third
    response = labeler.post("/review/api/accept/", {"choices": choices}, content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["accepted"] == [first.pk, second.pk]
    assert {f["id"]: [c["name"] for c in f["labels"]] for f in body["faces"]} == {first.pk: ["Aoi"], second.pk: ["Dai"]}
    labels = FaceLabel.objects.filter(face__in=[first, second])
    assert {(lb.face_id, lb.idol_id) for lb in labels} == {(first.pk, aoi.pk), (second.pk, dai.pk)}
    assert {lb.how for lb in labels} == {How.SUGGESTION}
    assert LabelEvent.objects.filter(batch=body["batch"]).count() == 2
    # The row of the idol accepted is closed; the other face's row is not what was chosen.
    assert Suggestion.objects.get(face=first).status == Suggestion.Status.ACCEPTED
    assert Suggestion.objects.get(face=second).status == Suggestion.Status.PENDING
    api = api_for(django_user_model, VIEWER)
    assert results(api, [first, second]) == {}
    # The grid's undo (u): both labels go, the suggestions show again.
    undone = labeler.post("/label/api/undo/", {"batch": body["batch"]}, content_type="application/json")
    assert undone.status_code == 200 and not FaceLabel.objects.filter(face__in=[first, second]).exists()
    assert names(results(api, [first])[first.pk]) == ["Aoi", "Beni", "Chiyo"]


def test_reject_answers_the_next_idols(django_user_model, world):
    labeler, _ = page_client(django_user_model, LABELER)
    first = world["faces"][0]
    aoi = world["idols"][0]
    response = labeler.post(
        "/review/api/reject/", {"face_ids": [first.pk], "idol": aoi.pk}, content_type="application/json"
    )
    assert response.status_code == 200
    [row] = response.json()["suggestions"]
    assert row["face"] == first.pk and names(row) == ["Beni", "Chiyo", "Dai"]
    assert SuggestionRejection.objects.filter(face=first, idol=aoi).exists()


@pytest.mark.parametrize(
    "choices, field",
    [
        ([], "choices"),
        ("1", "choices"),
        ([1, 2], "choices"),
        ([{"face": 1}], "idol"),
        ([{"face": "x", "idol": 1}], "face"),
    ],
)
def test_bad_choices_are_refused_clearly(django_user_model, world, choices, field):
    labeler, _ = page_client(django_user_model, LABELER)
    response = labeler.post("/review/api/accept/", {"choices": choices}, content_type="application/json")
    assert response.status_code == 400 and response.json()["fields"].keys() == {field}
    assert not FaceLabel.objects.exists()


def test_accepting_an_idol_who_was_merged_is_refused(django_user_model, world):
    labeler, _ = page_client(django_user_model, LABELER)
    aoi, dai = world["idols"][0], world["idols"][3]
    idol_merge(keep=dai, drop=aoi)
    choices = [{"face": world["faces"][0].pk, "idol": aoi.pk}, {"face": world["faces"][1].pk, "idol": dai.pk}]
    response = labeler.post("/review/api/accept/", {"choices": choices}, content_type="application/json")
    assert response.status_code >= 400 and response.json()["error"] == "deleted_idol"
    assert not FaceLabel.objects.exists()  # all or nothing


def test_a_face_no_one_has_is_not_found(django_user_model, world):
    labeler, _ = page_client(django_user_model, LABELER)
    choices = [{"face": 2**40, "idol": world["idols"][0].pk}]
    response = labeler.post("/review/api/accept/", {"choices": choices}, content_type="application/json")
    assert response.status_code == 404 and not FaceLabel.objects.exists()


def test_the_grid_and_photo_pages_carry_the_suggestions_script_and_keys(django_user_model, world):
    labeler, _ = page_client(django_user_model, LABELER)
    viewer, _ = page_client(django_user_model, VIEWER)
    photo = world["faces"][0].photo
    for url in ("/label/", f"/label/photos/{photo.pk}/"):
        html = labeler.get(url).content.decode()
        assert 'id="suggestions"' in html and "labeling/suggestions.js" in html
        assert 'data-url="/api/suggestions/for-faces/"' in html and 'data-accept-url="/review/api/accept/"' in html
        assert 'data-suggest-do="accept"' in html and "<kbd>y</kbd>" in html and "<kbd>n</kbd>" in html
        # Viewers read the suggestions; nothing on their page accepts one.
        html = viewer.get(url).content.decode()
        assert 'id="suggestions"' in html and 'data-suggest-do="accept"' not in html and "<kbd>y</kbd>" not in html
    # The idol page's grid shows her labeled faces: no suggestions there.
    assert "suggestions.js" not in labeler.get(f"/label/idols/{world['idols'][0].pk}/").content.decode()
