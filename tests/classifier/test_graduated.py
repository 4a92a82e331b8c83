"""Graduated (and retired) idols stay classes of the recognizer and are suggested, marked as
such; merged idols and idols deleted for another reason (a mistake) leave the model."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from classifier import recognition, tasks
from classifier.dataset import labeled_set
from classifier.models import Suggestion
from classifier.selectors import suggestions_for
from classifier.services import suggestions_accept
from classifier.services.clusters import cluster_name, clusters_build
from core.errors import DomainError
from labeling.models import FaceLabel, How, Idol
from labeling.roles import VIEWER, assign_role
from labeling.services import idol_merge, idol_soft_delete
from tests.classifier.suggest_fixtures import faces_said
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db


# --- training -------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [Idol.DeletionReason.GRADUATED, Idol.DeletionReason.RETIRED])
def test_a_graduated_or_retired_idol_stays_a_class_and_her_faces_train(two_idols, reason):
    (a, faces_a), (b, faces_b) = two_idols.items()
    idol_soft_delete(idol=a, reason=reason)
    data = labeled_set()
    assert data.class_idol_ids == sorted([a.pk, b.pk])
    assert sorted(data.face_ids) == sorted(f.pk for f in faces_a + faces_b)
    assert "deleted_idol" not in data.left_out


def test_an_idol_deleted_by_mistake_leaves_training(two_idols):
    (a, faces_a), (b, _) = two_idols.items()
    idol_soft_delete(idol=a, reason=Idol.DeletionReason.OTHER)
    data = labeled_set()
    assert data.class_idol_ids == [b.pk]
    assert not set(data.face_ids) & {f.pk for f in faces_a}
    assert data.left_out["deleted_idol"] == len(faces_a)


def test_a_merged_idol_is_no_class_her_faces_train_as_the_idol_she_joined(two_idols):
    (a, faces_a), (b, faces_b) = two_idols.items()
    idol_merge(keep=b, drop=a)
    data = labeled_set()
    assert data.class_idol_ids == [b.pk]
    assert sorted(data.face_ids) == sorted(f.pk for f in faces_a + faces_b)


def test_graduation_leaves_the_fingerprint_unchanged_a_mistake_deletion_does_not(two_idols):
    (a, _), (b, _) = two_idols.items()
    before = labeled_set().fingerprint
    idol_soft_delete(idol=a, reason=Idol.DeletionReason.GRADUATED)
    assert labeled_set().fingerprint == before  # no needless retraining
    idol_soft_delete(idol=b, reason=Idol.DeletionReason.OTHER)
    assert labeled_set().fingerprint != before


# --- suggestions ----------------------------------------------------------------------------


@pytest.fixture
def graduated_suggested(scripted):
    """Aoi graduated after the model was trained, Beni was deleted by mistake."""
    aoi, beni, _ = scripted["idols"]
    faces = faces_said(scripted["clf"], [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]])
    idol_soft_delete(idol=aoi, reason=Idol.DeletionReason.GRADUATED)
    idol_soft_delete(idol=beni, reason=Idol.DeletionReason.OTHER)
    tasks.suggest(scripted["version"].pk)
    return {**scripted, "faces": faces}


def test_a_graduated_idol_is_suggested_a_mistaken_one_never(graduated_suggested):
    aoi, beni, _ = graduated_suggested["idols"]
    first, second = graduated_suggested["faces"]

    rows = {r.face_id: r for r in Suggestion.objects.all()}
    assert rows[first.pk].idol_id == aoi.pk
    assert rows[second.pk].idol_id != beni.pk
    assert all(g["idol"] != beni.pk for g in rows[second.pk].top)


def test_an_old_suggestion_of_an_idol_deleted_by_mistake_is_hidden(scripted):
    _, beni, _ = scripted["idols"]
    faces_said(scripted["clf"], [[0.05, 0.9, 0.05]])
    tasks.suggest(scripted["version"].pk)
    assert [r.idol_id for r in suggestions_for()] == [beni.pk]
    idol_soft_delete(idol=beni, reason=Idol.DeletionReason.OTHER)
    assert list(suggestions_for()) == []


def test_accepting_a_suggestion_of_a_graduated_idol_labels_the_face(graduated_suggested, user):
    aoi, beni, _ = graduated_suggested["idols"]
    first, second = graduated_suggested["faces"]
    suggestions_accept(faces=[first], user=user)
    assert list(FaceLabel.objects.values_list("face_id", "idol_id", "how")) == [(first.pk, aoi.pk, How.SUGGESTION)]
    with pytest.raises(DomainError, match="has left") as caught:
        suggestions_accept(faces=[second], idol=beni, user=user)
    assert caught.value.code == "deleted_idol"


def test_the_review_page_marks_a_graduated_idol(client, django_user_model, graduated_suggested):
    viewer = django_user_model.objects.create_user(username="viewer", password="pw-viewer-1")
    assign_role(viewer, VIEWER)
    client.force_login(viewer)
    aoi, _, _ = graduated_suggested["idols"]
    first, _ = graduated_suggested["faces"]
    page = client.get(reverse("classifier:review")).content.decode()
    card = page[page.index(f'id="face-{first.pk}"') :]
    card = card[: card.index("</div>\n    </div>")]
    assert 'data-idol-status="graduated"' in card
    assert 'class="badge warn idol-status"' in card and "graduated</span>" in card
    one = client.get(reverse("classifier:review"), {"idol": aoi.pk}).content.decode()
    assert 'data-pick="idol" data-submit="1">Aoi, graduated</button>' in one
    n = suggestions_for(idol=aoi).count()
    assert n == 2 and f'<p class="idol-open" id="idol-open">{n} open for her</p>' in one


def test_the_suggestions_api_marks_a_graduated_idol(graduated_suggested, django_user_model):
    user = django_user_model.objects.create_user(username="api-viewer", password="pw-api-12345")
    assign_role(user, VIEWER)
    api = APIClient()
    api.force_authenticate(user)
    aoi, _, _ = graduated_suggested["idols"]
    results = api.get("/api/suggestions/").json()["results"]
    status = {r["idol"]: r["idol_status"] for r in results}
    assert status[aoi.pk] == "graduated"
    assert all(v == "active" for k, v in status.items() if k != aoi.pk)


class _Fixed:
    """A classifier that says the same probabilities for every crop."""

    input_size = 16

    def __init__(self, class_idol_ids, row):
        self.class_idol_ids = class_idol_ids
        self.row = row

    def predict_with_embeddings(self, pixels, *, batch_size: int = 256):
        n = len(pixels)
        return np.asarray([self.row] * n, dtype="float32"), np.zeros((n, 4), dtype="float32")


def test_recognize_names_a_graduated_idol_and_marks_her(scripted, monkeypatch, django_user_model, settings):
    aoi, beni, chiyo = scripted["idols"]
    idol_soft_delete(idol=aoi, reason=Idol.DeletionReason.GRADUATED)
    idol_soft_delete(idol=beni, reason=Idol.DeletionReason.OTHER)
    clf = _Fixed([aoi.pk, beni.pk, chiyo.pk], [0.7, 0.2, 0.1])
    monkeypatch.setattr("classifier.services.versions.load_classifier", lambda version=None: clf)
    crop = Image.new("RGB", (64, 64), (200, 100, 50))
    monkeypatch.setattr(recognition, "detect_faces", lambda image: [((1, 2, 30, 30), crop)])
    settings.IDOLSITE_UNKNOWN_THRESHOLD = 0.5
    user = django_user_model.objects.create_user(username="bot", password="pw-bot-123456")
    assign_role(user, VIEWER)
    api = APIClient()
    api.force_authenticate(user)
    file = io.BytesIO(image_bytes())
    file.name = "photo.jpg"
    response = api.post("/api/recognize/", {"image": file}, format="multipart")
    assert response.status_code == 200, response.content
    (face,) = response.json()["faces"]
    assert face["unknown"] is False
    assert [(g["idol_id"], g["idol_status"]) for g in face["top"]] == [(aoi.pk, "graduated"), (chiyo.pk, "active")]


def test_a_cluster_can_be_named_after_a_graduated_idol_not_a_mistaken_one(scripted, user):
    aoi, beni, _ = scripted["idols"]
    faces_said(scripted["clf"], [([0.4, 0.3, 0.3], [1.0, 0.01 * i, 0.0, 0.0]) for i in range(3)])
    tasks.suggest(scripted["version"].pk)
    (cluster,) = clusters_build()
    idol_soft_delete(idol=aoi, reason=Idol.DeletionReason.GRADUATED)
    idol_soft_delete(idol=beni, reason=Idol.DeletionReason.OTHER)
    with pytest.raises(DomainError) as caught:
        cluster_name(cluster=cluster, idol=beni, user=user)
    assert caught.value.code == "deleted_idol"
    cluster_name(cluster=cluster, idol=aoi, user=user)
    assert FaceLabel.objects.filter(idol=aoi).count() == 3
