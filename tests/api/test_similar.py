"""Similar faces through the API: a face's nearest faces and an idol's likely faces, with crop
URLs, photo and distance; 409 without a vector, 404 for an unknown id, bounds on k and limit."""

from __future__ import annotations

import pytest

from faces.selectors import current_model
from labeling import services
from tests.factories import make_embedded_face, make_face, make_idol

pytestmark = pytest.mark.django_db


embedded = make_embedded_face


def test_a_faces_nearest_faces_with_crop_photo_labels_and_distance(viewer_api, user):
    query, far, near = embedded(0.0), embedded(0.8), embedded(0.25)
    idol = make_idol("Moa Kikuchi")
    services.face_label(face=near, idol=idol, user=user)
    response = viewer_api.get(f"/api/faces/{query.pk}/similar/?k=2")
    assert response.status_code == 200
    body = response.json()
    name, model_hash = current_model()
    assert (body["embedder"], body["model_hash"], body["max_distance"]) == (name, model_hash, None)
    assert [(f["id"], f["distance"]) for f in body["results"]] == [(near.pk, 0.25), (far.pk, 0.8)]
    first = body["results"][0]
    assert first["photo"] == near.photo_id and first["crop"].startswith("http://testserver/media/crops/")
    assert [label["name"] for label in first["labels"]] == ["Moa Kikuchi"]
    assert [f["id"] for f in viewer_api.get(f"/api/faces/{query.pk}/similar/").json()["results"]] == [near.pk, far.pk]


def test_a_face_without_a_vector_answers_409_and_an_unknown_face_404(viewer_api):
    embedded(0.0)
    response = viewer_api.get(f"/api/faces/{make_face().pk}/similar/")
    assert response.status_code == 409 and response.json()["error"] == "no_embeddings"
    assert viewer_api.get("/api/faces/999999/similar/").status_code == 404
    assert viewer_api.get("/api/idols/999999/similar/").status_code == 404


@pytest.mark.parametrize("k", ["0", "101", "-1", "two", "1.5"])
def test_k_out_of_bounds_is_a_400_naming_it(viewer_api, k):
    response = viewer_api.get(f"/api/faces/{embedded(0.0).pk}/similar/?k={k}")
    assert response.status_code == 400 and "k" in response.json()["fields"]


@pytest.mark.parametrize("limit", ["0", "201", "x"])
def test_limit_out_of_bounds_is_a_400_naming_it(viewer_api, limit):
    response = viewer_api.get(f"/api/idols/{make_idol().pk}/similar/?limit={limit}")
    assert response.status_code == 400 and "limit" in response.json()["fields"]


def test_her_likely_faces_are_those_not_labeled_her_nearest_to_her_labeled_ones(viewer_api, user, settings):
    settings.IDOLSITE_SIMILAR_MAX_DISTANCE = 0.5
    her, someone = make_idol("Su"), make_idol("Yui")
    mine = [embedded(0.0), embedded(1.0)]
    for face in mine:
        services.face_label(face=face, idol=her, user=user)
    near_second, near_first, labeled_other, too_far = embedded(1.1), embedded(0.3), embedded(0.05), embedded(2.0)
    services.face_label(face=labeled_other, idol=someone, user=user)
    body = viewer_api.get(f"/api/idols/{her.pk}/similar/").json()
    assert body["max_distance"] == 0.5
    assert [(f["id"], f["distance"]) for f in body["results"]] == [
        (labeled_other.pk, 0.05),
        (near_second.pk, 0.1),
        (near_first.pk, 0.3),
    ]
    assert too_far.pk not in [f["id"] for f in body["results"]]
    unlabeled = viewer_api.get(f"/api/idols/{her.pk}/similar/?unlabeled=1&limit=1").json()
    assert [f["id"] for f in unlabeled["results"]] == [near_second.pk]


def test_an_idol_without_labels_has_no_likely_faces_and_one_without_vectors_409(viewer_api, user):
    embedded(0.0)
    idol = make_idol()
    assert viewer_api.get(f"/api/idols/{idol.pk}/similar/").json()["results"] == []
    services.face_label(face=make_face(), idol=idol, user=user)
    response = viewer_api.get(f"/api/idols/{idol.pk}/similar/")
    assert response.status_code == 409 and response.json()["error"] == "no_embeddings"


def test_similar_faces_need_a_role(make_api):
    face = embedded(0.0)
    assert make_api("anonymous").get(f"/api/faces/{face.pk}/similar/").status_code == 401
    assert make_api("norole").get(f"/api/faces/{face.pk}/similar/").status_code == 403
