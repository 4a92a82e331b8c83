"""Labeling answers in the reader's language: a refused action's message (the error code stays
the same), the activity summary and the admin's model and field names. Tests run in English
unless they send Accept-Language: ja."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import translation

from faces.models import Face
from labeling import selectors, services
from tests.factories import make_face, make_idol

pytestmark = pytest.mark.django_db

JA = {"HTTP_ACCEPT_LANGUAGE": "ja"}


@pytest.fixture(autouse=True)
def _english_after():
    """A request leaves its language active in the thread: the next test starts in English."""
    yield
    translation.deactivate()


def _label(client, face_id: int, idol_id: int, **headers):
    payload = json.dumps({"face_ids": [face_id], "idol": idol_id})
    return client.post(reverse("labeling:api-label"), data=payload, content_type="application/json", **headers)


def test_a_missing_idol_is_refused_in_the_readers_language(as_labeler):
    face = make_face()
    japanese = _label(as_labeler, face.pk, 999_999, **JA)
    english = _label(as_labeler, face.pk, 999_999)
    assert japanese.status_code == english.status_code == 404
    assert japanese.json()["error"] == english.json()["error"] == "not_found"
    assert japanese.json()["detail"] == "そのアイドルはいません"
    assert english.json()["detail"] == "no such idol"


def test_a_service_refusal_through_the_api_answers_in_japanese(client, labeler):
    from knox.models import AuthToken

    face = make_face()
    services.face_exclude(face=face, reason=Face.ExclusionReason.NOT_A_FACE)
    idol = make_idol("Moa")
    token = AuthToken.objects.create(user=labeler)[1]
    url = f"/api/faces/{face.pk}/labels/"
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    body = json.dumps({"idol": idol.pk})
    japanese = client.post(url, data=body, content_type="application/json", **auth, **JA)
    english = client.post(url, data=body, content_type="application/json", **auth)
    assert japanese.status_code == english.status_code == 409
    assert japanese.json()["error"] == english.json()["error"] == "face_excluded"
    assert f"顔 {face.pk} は除外されています" in japanese.json()["detail"]
    assert english.json()["detail"].startswith(f"face {face.pk} is excluded")


def test_the_activity_summary_reads_japanese(labeler):
    idol = make_idol("Moa")
    services.faces_label(faces=[make_face(), make_face()], idol=idol, user=labeler)
    with translation.override("ja"):
        [action] = selectors.recent_actions()
    assert action.summary == "顔 2 件に Moa のラベルを付けました"


def test_the_idol_admin_in_japanese_names_its_model_and_fields(client, admin_user):
    make_idol("Moa", reading="もあ")
    client.force_login(admin_user)
    url = reverse("admin:labeling_idol_changelist")
    japanese = client.get(url, **JA).content.decode()
    assert "<title>変更する アイドル を選択" in japanese  # Django's own Japanese, with our model name
    assert "読み" in japanese and "ラベル付け" in japanese  # a field label and the app's name
    assert "卒業（学習と候補一覧から外れます。ラベルは残ります）" in japanese  # an action
    english = client.get(url).content.decode()
    assert "Select idol to change" in english and "Reading" in english


def test_the_idol_change_form_in_japanese_labels_its_fields(client, admin_user):
    idol = make_idol("Moa", reading="もあ")
    client.force_login(admin_user)
    page = client.get(reverse("admin:labeling_idol_change", args=[idol.pk]), **JA).content.decode()
    assert "名前のかなの読み。" in page  # help text
    assert "削除の理由" in page and "統合先" in page  # read-only fields
