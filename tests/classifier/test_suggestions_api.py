from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from classifier import tasks
from classifier.models import FaceCluster, SuggestionRejection
from classifier.services.clusters import clusters_build
from labeling.models import FaceLabel, How
from labeling.roles import LABELER, VIEWER, assign_role
from tests.classifier.suggest_fixtures import faces_said

pytestmark = pytest.mark.django_db


def client_for(django_user_model, role: str | None) -> APIClient:
    user = django_user_model.objects.create_user(username=f"api-{role}", password="pw-api-12345")
    if role:
        assign_role(user, role)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def suggested(scripted):
    faces = faces_said(scripted["clf"], [[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    tasks.suggest(scripted["version"].pk)
    return {**scripted, "faces": faces}


def test_list_by_idol_and_mode_with_a_cursor(django_user_model, suggested):
    api = client_for(django_user_model, VIEWER)
    a = suggested["idols"][0]
    body = api.get("/api/suggestions/", {"idol": a.pk, "limit": 1}).json()
    assert [r["face"] for r in body["results"]] == [suggested["faces"][0].pk] and body["next_cursor"] == 1
    body = api.get("/api/suggestions/", {"idol": a.pk, "limit": 1, "cursor": 1}).json()
    assert [r["face"] for r in body["results"]] == [suggested["faces"][2].pk] and body["next_cursor"] is None
    row = body["results"][0]
    assert row["name"] == "Aoi" and row["probability"] == pytest.approx(0.6) and row["top"][0]["idol"] == a.pk
    uncertain = api.get("/api/suggestions/", {"mode": "uncertain"}).json()["results"]
    assert uncertain[0]["face"] == suggested["faces"][2].pk
    bad = api.get("/api/suggestions/", {"mode": "nope"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid" and "mode" in bad.json()["fields"]


def test_bulk_accept_and_reject(django_user_model, suggested):
    api = client_for(django_user_model, LABELER)
    first, second, third = suggested["faces"]
    response = api.post("/api/suggestions/accept/", {"faces": [first.pk, second.pk]}, format="json")
    assert response.status_code == 200 and response.json()["accepted"] == 2
    assert FaceLabel.objects.filter(how=How.SUGGESTION).count() == 2
    response = api.post("/api/suggestions/reject/", {"faces": [third.pk]}, format="json")
    assert response.json() == {"rejected": 1} and SuggestionRejection.objects.get().idol == suggested["idols"][0]
    stats = api.get("/api/suggestions/stats/").json()
    assert (stats["accepted"], stats["rejected"]) == (2, 1) and len(stats["calibration"]) == 8


def test_errors_have_the_project_shape(django_user_model, suggested):
    api = client_for(django_user_model, LABELER)
    response = api.post("/api/suggestions/accept/", {"faces": [999999]}, format="json")
    assert response.status_code == 404 and response.json()["error"] == "not_found"  # not_found: 404 across the API
    response = api.post("/api/suggestions/accept/", {"faces": []}, format="json")
    assert response.status_code == 400 and set(response.json()) == {"error", "detail", "fields"}


def test_roles(django_user_model, suggested):
    viewer = client_for(django_user_model, VIEWER)
    assert (
        viewer.post("/api/suggestions/accept/", {"faces": [suggested["faces"][0].pk]}, format="json").status_code == 403
    )
    nobody = client_for(django_user_model, None)
    assert nobody.get("/api/suggestions/").status_code == 403
    assert APIClient().get("/api/clusters/").status_code in (401, 403)


def test_clusters_list_name_and_split(django_user_model, scripted):
    faces = faces_said(scripted["clf"], [([0.4, 0.3, 0.3], [1.0, 0.01 * i, 0.0, 0.0]) for i in range(4)])
    tasks.suggest(scripted["version"].pk)
    clusters_build()
    api = client_for(django_user_model, LABELER)
    (cluster,) = api.get("/api/clusters/").json()["results"]
    assert sorted(cluster["faces"]) == [f.pk for f in faces] and cluster["size"] == 4
    split = api.post(f"/api/clusters/{cluster['id']}/split/", {"faces": [faces[0].pk, faces[1].pk]}, format="json")
    assert split.status_code == 200 and len(split.json()["clusters"]) == 2
    idol = scripted["idols"][1]
    named = api.post(f"/api/clusters/{cluster['id']}/name/", {"idol": idol.pk}, format="json")
    assert named.status_code == 200
    assert set(FaceLabel.objects.values_list("face_id", flat=True)) == {faces[2].pk, faces[3].pk}
    again = api.post(f"/api/clusters/{cluster['id']}/name/", {"idol": idol.pk}, format="json")
    assert again.status_code == 400 and again.json()["error"] == "named"
    assert api.post("/api/clusters/999999/name/", {"idol": idol.pk}, format="json").status_code == 404
    assert FaceCluster.objects.filter(named_at__isnull=True).count() == 1
