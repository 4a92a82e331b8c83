from __future__ import annotations

import json

import pytest
from django.urls import reverse

from classifier import tasks
from classifier.models import FaceCluster, Suggestion, SuggestionRejection
from classifier.services.clusters import clusters_build
from labeling.models import FaceLabel, How
from labeling.roles import LABELER, VIEWER, assign_role
from tests.classifier.suggest_fixtures import faces_said

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(django_user_model):
    u = django_user_model.objects.create_user(username="viewer", password="pw-viewer-1")
    assign_role(u, VIEWER)
    return u


@pytest.fixture
def labeler(django_user_model):
    u = django_user_model.objects.create_user(username="labeler2", password="pw-labeler-2")
    assign_role(u, LABELER)
    return u


@pytest.fixture
def suggested(scripted):
    faces = faces_said(scripted["clf"], [[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.4, 0.35, 0.25]])
    tasks.suggest(scripted["version"].pk)
    return {**scripted, "faces": faces}


def post(client, name, payload):
    return client.post(reverse(name), json.dumps(payload), content_type="application/json")


def test_review_page_lists_suggestions_with_keys_and_calibration(client, viewer, suggested):
    client.force_login(viewer)
    response = client.get(reverse("classifier:review"))
    assert response.status_code == 200
    text = response.content.decode()
    assert text.index(f'data-face="{suggested["faces"][0].pk}"') < text.index(f'data-face="{suggested["faces"][2].pk}"')
    assert "classifier/review.js" in text and "Acceptance by probability" in text and "<kbd>y</kbd>" in text
    a = suggested["idols"][0]
    one = client.get(reverse("classifier:review"), {"idol": a.pk, "mode": "margin"}).content.decode()
    assert f'data-face="{suggested["faces"][1].pk}"' not in one and f'data-face="{suggested["faces"][2].pk}"' in one


def test_review_page_counts_open_suggestions_up_to_a_cap(client, viewer, suggested, monkeypatch):
    from classifier import selectors

    client.force_login(viewer)
    text = client.get(reverse("classifier:review")).content.decode()
    assert "rejected · 3 open</p>" in text and 'id="idol-open"' not in text
    monkeypatch.setattr(selectors, "PENDING_CAP", 2)
    text = client.get(reverse("classifier:review")).content.decode()
    assert "rejected · more than 2 open</p>" in text
    a = suggested["idols"][0]
    one = client.get(reverse("classifier:review"), {"idol": a.pk}).content.decode()
    assert '<p class="idol-open" id="idol-open">2 open for her</p>' in one
    monkeypatch.setattr(selectors, "PENDING_CAP", 1)
    one = client.get(reverse("classifier:review"), {"idol": a.pk}).content.decode()
    assert '<p class="idol-open" id="idol-open">More than 1 open for her</p>' in one


def test_review_page_gives_each_face_a_pick_key(client, viewer, suggested):
    client.force_login(viewer)
    text = client.get(reverse("classifier:review")).content.decode()
    # one key each; the least probable face (0.4) gets the first key of the home row
    faces = suggested["faces"]

    def hint(face):
        return text.split(f'data-face="{face.pk}"')[1].split(">")[0].split('data-hint="')[1].split('"')[0]

    assert [hint(f) for f in faces] == ["d", "s", "a"]
    assert "<kbd>x</kbd> pick mode" in text


def test_review_hints_are_prefix_free_and_short_where_a_wrong_face_is_likely():
    from classifier.views.review import HINT_KEYS, PAGE_SIZE, review_hints

    assert review_hints([]) == []
    assert review_hints([0.9, 0.5, 0.7]) == ["d", "a", "s"]
    probabilities = [1 - i / 100 for i in range(PAGE_SIZE)]  # a page sorted most confident first
    hints = review_hints(probabilities)
    assert len(set(hints)) == PAGE_SIZE
    assert not any(a != b and b.startswith(a) for a in hints for b in hints)
    singles = len(HINT_KEYS) - 1  # the last key is the prefix of the two-key hints
    assert [len(h) for h in hints] == [2] * (PAGE_SIZE - singles) + [1] * singles
    assert hints[-1] == "a" and all(h.startswith(HINT_KEYS[-1]) for h in hints[: PAGE_SIZE - singles])
    assert len(review_hints([0.5] * len(HINT_KEYS))) == len(HINT_KEYS)  # a full alphabet: one key each
    assert {len(h) for h in review_hints([0.5] * len(HINT_KEYS))} == {1}
    with pytest.raises(ValueError):
        review_hints([0.5] * (len(HINT_KEYS) ** 2 + 1))


def test_review_needs_a_login_and_a_role(client, django_user_model, suggested):
    assert client.get(reverse("classifier:review")).status_code == 302
    nobody = django_user_model.objects.create_user(username="nobody", password="pw-nobody-1")
    client.force_login(nobody)
    assert client.get(reverse("classifier:review")).status_code == 403
    assert client.get(reverse("classifier:clusters")).status_code == 403


def test_viewers_read_but_cannot_accept(client, viewer, suggested):
    client.force_login(viewer)
    response = post(client, "classifier:review-accept", {"face_ids": [suggested["faces"][0].pk]})
    assert response.status_code == 403 and not FaceLabel.objects.exists()


def test_labeler_accepts_rejects_and_undoes(client, labeler, suggested):
    client.force_login(labeler)
    first, second, third = suggested["faces"]
    response = post(client, "classifier:review-accept", {"face_ids": [first.pk, second.pk]})
    assert response.status_code == 200
    assert FaceLabel.objects.filter(how=How.SUGGESTION).count() == 2
    batch = response.json()["batch"]
    response = post(client, "classifier:review-reject", {"face_ids": [third.pk], "idol": suggested["idols"][0].pk})
    assert response.status_code == 200 and response.json()["faces"][0]["idol"] == suggested["idols"][1].pk
    assert SuggestionRejection.objects.count() == 1
    assert post(client, "labeling:api-undo", {"batch": batch}).status_code == 200
    assert not FaceLabel.objects.exists()
    response = post(client, "classifier:review-unreject", {"face_ids": [third.pk], "idol": suggested["idols"][0].pk})
    assert response.status_code == 200 and not SuggestionRejection.objects.exists()
    assert Suggestion.objects.get(face=third).idol == suggested["idols"][0]


def test_bad_input_answers_400(client, labeler, suggested):
    client.force_login(labeler)
    assert post(client, "classifier:review-accept", {"face_ids": "x"}).status_code == 400
    assert post(client, "classifier:review-accept", {"face_ids": [999999]}).status_code == 404


def test_names_are_escaped(client, viewer, suggested):
    from labeling.services import idol_rename

    idol_rename(idol=suggested["idols"][0], name="<script>alert(1)</script>")
    client.force_login(viewer)
    for url in (reverse("classifier:review"), reverse("classifier:review") + "?mode=uncertain"):
        text = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_mistakes_mode_shows_the_current_label(client, viewer, scripted):
    from labeling.services import face_label

    (face,) = faces_said(scripted["clf"], [[0.05, 0.9, 0.05]])
    face_label(face=face, idol=scripted["idols"][0])
    tasks.suggest(scripted["version"].pk)
    client.force_login(viewer)
    text = client.get(reverse("classifier:review"), {"mode": "mistakes"}).content.decode()
    assert f'data-face="{face.pk}"' in text and "now: Aoi" in text


def test_cluster_page_names_and_splits(client, labeler, viewer, scripted):
    near = [[1.0, 0.02 * i, 0.0, 0.0] for i in range(3)]
    far = [[0.0, 0.0, 1.0, 0.02 * i] for i in range(3)]
    faces = faces_said(scripted["clf"], [([0.4, 0.3, 0.3], e) for e in near + far])
    tasks.suggest(scripted["version"].pk)
    clusters_build()
    assert FaceCluster.objects.count() == 2
    client.force_login(viewer)
    assert client.get(reverse("classifier:clusters")).status_code == 200
    assert client.post(reverse("classifier:cluster-rebuild")).status_code == 403
    client.force_login(labeler)
    first = FaceCluster.objects.get(members__face=faces[0])
    response = client.post(reverse("classifier:cluster-split", args=[first.pk]), {"faces": [faces[0].pk]})
    assert response.status_code == 302 and FaceCluster.objects.count() == 3
    idol = scripted["idols"][2]
    other = FaceCluster.objects.get(members__face=faces[3])
    client.post(reverse("classifier:cluster-name", args=[other.pk]), {"idol": idol.pk})
    assert set(FaceLabel.objects.values_list("face_id", flat=True)) == {f.pk for f in faces[3:]}
    text = client.get(reverse("classifier:clusters")).content.decode()
    assert f"cluster-{other.pk}" not in text and f"cluster-{first.pk}" in text


def test_review_page_queries_do_not_grow_with_the_faces(client, viewer, scripted, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(viewer)
    faces_said(scripted["clf"], [[0.9, 0.05, 0.05]] * 2)
    tasks.suggest(scripted["version"].pk)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("classifier:review"))
    faces_said(scripted["clf"], [[0.1, 0.8, 0.1]] * 6)
    tasks.suggest(scripted["version"].pk)
    with django_assert_max_num_queries(len(few)):
        client.get(reverse("classifier:review"))
