"""Faces and labels, idols, groups, memberships and the label history through the API."""

from __future__ import annotations

import pytest

from labeling.models import FaceLabel, Idol, IdolAlias, LabelEvent
from tests.factories import make_face, make_group, make_idol

pytestmark = pytest.mark.django_db


# --- faces and labels -----------------------------------------------------------------------


def test_label_unlabel_and_undo_one_face(labeler_api, world):
    face = world.unlabeled
    response = labeler_api.post(f"/api/faces/{face.pk}/labels/", {"idol": world.idol.pk}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert [label["name"] for label in body["faces"][0]["labels"]] == ["Suzuka Nakamoto"]
    undo = labeler_api.post("/api/label-events/undo/", {"batch": body["batch"]}, format="json")
    assert undo.status_code == 200 and undo.json()["faces"][0]["labels"] == []
    again = labeler_api.post("/api/label-events/undo/", {"batch": body["batch"]}, format="json")
    assert again.status_code == 409 and again.json()["error"] == "already_undone"
    response = labeler_api.delete(f"/api/faces/{face.pk}/labels/{world.idol.pk}/")
    assert response.status_code == 409 and response.json()["error"] == "not_labeled"


def test_labels_refused_on_an_excluded_face_and_for_a_missing_idol(labeler_api, world):
    response = labeler_api.post(f"/api/faces/{world.excluded.pk}/labels/", {"idol": world.idol.pk}, format="json")
    assert response.status_code == 409 and response.json()["error"] == "face_excluded"
    response = labeler_api.post(f"/api/faces/{world.unlabeled.pk}/labels/", {"idol": 10**30}, format="json")
    assert response.status_code == 400 and "idol" in response.json()["fields"]


def test_bulk_label_exclude_include_each_answer_one_batch(labeler_api, world):
    ids = [world.labeled.pk, world.unlabeled.pk]
    response = labeler_api.post("/api/faces/bulk/label/", {"faces": ids, "idol": world.other.pk}, format="json")
    assert response.status_code == 200
    batch = response.json()["batch"]
    assert LabelEvent.objects.filter(batch=batch).count() == 2
    response = labeler_api.post("/api/faces/bulk/exclude/", {"faces": ids, "reason": "not_target"}, format="json")
    assert all(f["excluded"] and f["labels"] == [] for f in response.json()["faces"])
    response = labeler_api.post("/api/faces/bulk/include/", {"faces": ids}, format="json")
    assert response.status_code == 200 and not any(f["excluded"] for f in response.json()["faces"])
    response = labeler_api.post("/api/faces/bulk/label/", {"faces": [999999], "idol": world.idol.pk}, format="json")
    assert (
        response.status_code == 404 and response.json()["error"] == "not_found" and "faces" in response.json()["fields"]
    )
    response = labeler_api.post("/api/faces/bulk/label/", {"faces": [], "idol": world.idol.pk}, format="json")
    assert response.status_code == 400


def test_face_list_uses_the_grid_filters_and_its_keyset_cursor(viewer_api, world):
    more = [make_face(world.photo, box=(10 + i * 20, 150, 20, 20), score=0.5 + i / 10) for i in range(3)]
    unlabeled = viewer_api.get("/api/faces/?size=2").json()
    assert [f["id"] for f in unlabeled["results"]] == [more[2].pk, more[1].pk]
    rest = viewer_api.get(unlabeled["next"]).json()
    assert [f["id"] for f in rest["results"]] == [more[0].pk, world.unlabeled.pk] and rest["next"] is None
    labeled = viewer_api.get(f"/api/faces/?status=labeled&idol={world.idol.pk}").json()["results"]
    assert [f["id"] for f in labeled] == [world.labeled.pk]
    by_group = viewer_api.get(f"/api/faces/?status=all&group={world.group.pk}").json()["results"]
    assert [f["id"] for f in by_group] == [world.labeled.pk]
    by_score = viewer_api.get("/api/faces/?sort=-score&score_min=0.6&score_max=0.8&size=1").json()
    assert [f["id"] for f in by_score["results"]] == [more[2].pk]
    assert [f["id"] for f in viewer_api.get(by_score["next"]).json()["results"]] == [more[1].pk]
    excluded = viewer_api.get("/api/faces/?status=excluded").json()["results"]
    assert [(f["id"], f["exclusion_reason"]) for f in excluded] == [(world.excluded.pk, "not_face")]
    for query in ("status=bogus", "cursor=x_y", "size=501", f"cursor={10**30}", "score_min=2"):
        response = viewer_api.get(f"/api/faces/?{query}")
        assert response.status_code == 400, query


# --- idols ----------------------------------------------------------------------------------


def test_idol_search_is_the_typeahead(viewer_api, world):
    make_idol("Moa Kikuchi", reading="きくち もあ", aliases=["MOAMETAL"])
    hits = viewer_api.get("/api/idols/?q=キクチ").json()["results"]
    assert [h["name"] for h in hits] == ["Moa Kikuchi"]
    assert viewer_api.get("/api/idols/?q=moametal").json()["results"][0]["matched"] == "moametal"
    assert viewer_api.get("/api/idols/?q=graduated").json()["results"] == []
    hits = viewer_api.get("/api/idols/?q=graduated&deleted=1").json()["results"]
    assert [(h["name"], h["status"]) for h in hits] == [("Graduated One", "graduated")]
    hits = viewer_api.get("/api/idols/?q=sakura").json()["results"]
    assert [(h["name"], h["groups"], h["faces"]) for h in hits] == [("Suzuka Nakamoto", ["Sakura Gakuin"], 1)]


def test_idol_list_by_name_with_cursor(viewer_api, world):
    page = viewer_api.get("/api/idols/?size=1").json()
    assert [h["name"] for h in page["results"]] == ["Other Person"]
    assert [h["name"] for h in viewer_api.get(page["next"]).json()["results"]] == ["Suzuka Nakamoto"]
    everyone = viewer_api.get("/api/idols/?deleted=1").json()["results"]
    assert [h["name"] for h in everyone] == ["Graduated One", "Other Person", "Suzuka Nakamoto"]
    members = viewer_api.get(f"/api/idols/?group={world.group.pk}").json()["results"]
    assert [h["name"] for h in members] == ["Suzuka Nakamoto"]


def test_idol_create_update_rename_graduate_restore_merge(labeler_api, admin_api, world):
    created = labeler_api.post(
        "/api/idols/",
        {"name": " Yui  Mizuno ", "aliases": ["YUIMETAL"], "handles": {"X": "@yui"}, "group": world.group.pk},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["handles"], body["memberships"][0]["group_name"]) == (
        "Yui Mizuno",
        {"x": "yui"},
        "Sakura Gakuin",
    )
    idol_id = body["id"]
    changed = admin_api.patch(
        f"/api/idols/{idol_id}/", {"reading": "みずの ゆい", "aliases": ["Yuimetal", "Yui"]}, format="json"
    ).json()
    assert (changed["reading"], sorted(a["name"] for a in changed["aliases"])) == ("みずの ゆい", ["Yui", "Yuimetal"])
    renamed = admin_api.post(f"/api/idols/{idol_id}/rename/", {"name": "YUI"}, format="json").json()
    assert renamed["name"] == "YUI" and {"name": "Yui Mizuno", "kind": "old_name"} in renamed["aliases"]
    graduated = admin_api.post(f"/api/idols/{idol_id}/graduate/", {}, format="json").json()
    assert graduated["status"] == "graduated"
    response = admin_api.post(f"/api/idols/{idol_id}/retire/")
    assert response.status_code == 409 and response.json()["error"] == "already_deleted"
    assert admin_api.post(f"/api/idols/{idol_id}/restore/").json()["status"] == "active"
    merged = admin_api.post(f"/api/idols/{idol_id}/merge/", {"into": world.idol.pk}, format="json").json()
    assert merged["id"] == world.idol.pk and idol_id in merged["merged_from"]
    assert IdolAlias.objects.filter(idol=world.idol, name="YUI").exists()
    assert Idol.all_objects.get(pk=idol_id).deletion_reason == "merged"
    response = admin_api.post(f"/api/idols/{world.idol.pk}/merge/", {"into": world.idol.pk}, format="json")
    assert response.status_code == 400


def test_idol_create_refuses_bad_input(labeler_api):
    response = labeler_api.post("/api/idols/", {"name": "   "}, format="json")
    assert response.status_code == 400 and "name" in response.json()["fields"]
    response = labeler_api.post("/api/idols/", {"name": "A", "handles": {"x": "a\x00b"}}, format="json")
    assert response.status_code == 400


# --- groups and memberships -----------------------------------------------------------------


def test_groups_and_memberships(admin_api, world):
    group = admin_api.post("/api/groups/", {"name": "BABYMETAL"}, format="json").json()
    assert admin_api.post("/api/groups/", {"name": "BABYMETAL"}, format="json").status_code == 409
    membership = admin_api.post(
        "/api/memberships/", {"idol": world.idol.pk, "group": group["id"], "joined": "2010-10-01"}, format="json"
    )
    assert membership.status_code == 201
    mid = membership.json()["id"]
    again = admin_api.post("/api/memberships/", {"idol": world.idol.pk, "group": group["id"]}, format="json")
    assert again.status_code == 409 and again.json()["error"] == "duplicate"
    bad = admin_api.patch(f"/api/memberships/{mid}/", {"left": "2009-01-01"}, format="json")
    assert bad.status_code == 400 and "left" in bad.json()["fields"]
    assert admin_api.patch(f"/api/memberships/{mid}/", {"left": "2023-04-01"}, format="json").json()["left"]
    current = admin_api.get(f"/api/memberships/?idol={world.idol.pk}&current=1").json()["results"]
    assert [m["group_name"] for m in current] == ["Sakura Gakuin"]
    response = admin_api.delete(f"/api/groups/{group['id']}/")
    assert response.status_code == 409 and response.json()["error"] == "in_use"
    assert admin_api.delete(f"/api/memberships/{mid}/").status_code == 204
    renamed = admin_api.patch(f"/api/groups/{group['id']}/", {"name": "BM"}, format="json")
    assert renamed.json()["name"] == "BM"
    assert admin_api.delete(f"/api/groups/{group['id']}/").status_code == 204
    assert [g["name"] for g in admin_api.get("/api/groups/").json()["results"]] == ["Empty", "Sakura Gakuin"]


def test_group_rename_reaches_the_typeahead(admin_api, world):
    admin_api.patch(f"/api/groups/{world.group.pk}/", {"name": "Sakura Academy"}, format="json")
    assert [h["name"] for h in admin_api.get("/api/idols/?q=academy").json()["results"]] == ["Suzuka Nakamoto"]


# --- the label history ----------------------------------------------------------------------


def test_label_events_filters_and_pagination(viewer_api, world):
    events = viewer_api.get("/api/label-events/?size=1").json()
    assert len(events["results"]) == 1 and events["next"]
    labeled = viewer_api.get(f"/api/label-events/?face={world.labeled.pk}&action=label_added").json()["results"]
    assert [(e["idol"], e["username"], e["batch"]) for e in labeled] == [(world.idol.pk, "owner", str(world.batch))]
    by_user = viewer_api.get(f"/api/label-events/?user={world.user.pk}").json()["results"]
    assert len(by_user) == 2  # the exclusion and the label
    assert viewer_api.get("/api/label-events/?action=nope").status_code == 400


def test_labelers_undo_their_own_actions_admins_anyones(labeler_api, admin_api, world):
    response = labeler_api.post("/api/label-events/undo/", {"batch": str(world.batch)}, format="json")
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    response = admin_api.post("/api/label-events/undo/", {"batch": str(world.batch)}, format="json")
    assert response.status_code == 200
    assert not FaceLabel.objects.filter(face=world.labeled).exists()
    response = admin_api.post(
        "/api/label-events/undo/", {"batch": "00000000-0000-0000-0000-000000000000"}, format="json"
    )
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    response = admin_api.post("/api/label-events/undo/", {"batch": "nope"}, format="json")
    assert response.status_code == 400 and "batch" in response.json()["fields"]


def test_unused_group_factory_is_deletable(admin_api):
    group = make_group()
    assert admin_api.delete(f"/api/groups/{group.pk}/").status_code == 204


@pytest.mark.parametrize(
    "value", ["1124-06-27T19:46:26.42+21:05", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]
)
def test_times_out_of_the_databases_range_are_refused_or_normalised(viewer_api, world, value):
    from urllib.parse import quote

    response = viewer_api.get(f"/api/label-events/?since={quote(value)}")
    assert response.status_code in (200, 400), response.content
    assert viewer_api.get(f"/api/photos/?added_before={quote(value)}").status_code in (200, 400)


def test_labeling_a_face_that_has_the_label_changes_nothing_and_answers_no_batch(labeler_api, world):
    face = world.labeled  # labeled with world.idol already
    events = LabelEvent.objects.count()
    response = labeler_api.post(f"/api/faces/{face.pk}/labels/", {"idol": world.idol.pk}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["batch"] is None
    assert [label["name"] for label in response.json()["faces"][0]["labels"]] == ["Suzuka Nakamoto"]
    response = labeler_api.post("/api/faces/bulk/label/", {"faces": [face.pk], "idol": world.idol.pk}, format="json")
    assert response.status_code == 200 and response.json()["batch"] is None
    assert LabelEvent.objects.count() == events
    # Some faces new, some labeled already: the batch holds the new ones and undoes only them.
    ids = [face.pk, world.unlabeled.pk]
    response = labeler_api.post("/api/faces/bulk/label/", {"faces": ids, "idol": world.idol.pk}, format="json")
    batch = response.json()["batch"]
    assert list(LabelEvent.objects.filter(batch=batch).values_list("face_id", flat=True)) == [world.unlabeled.pk]
    undo = labeler_api.post("/api/label-events/undo/", {"batch": batch}, format="json")
    assert undo.status_code == 200
    assert set(FaceLabel.objects.filter(idol=world.idol).values_list("face_id", flat=True)) == {face.pk}
