"""The labeling pages: roles, the grid's filters and keyset pagination, query counts, the JSON
actions, CSRF and escaping."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from faces import services as face_services
from faces.models import Face, Source
from labeling import selectors, services
from labeling.models import FaceLabel, Idol, LabelEvent
from tests.factories import make_face, make_group, make_idol, make_photo

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"


def post_json(client: Client, name: str, payload: dict, **kwargs):
    return client.post(reverse(name), data=json.dumps(payload), content_type="application/json", **kwargs)


@pytest.fixture
def world():
    group = make_group("Sakura Gakuin")
    moa = make_idol("Moa", reading="もあ", group=group)
    yui = make_idol("Yui", reading="ゆい")
    source = Source.objects.create(kind=Source.Kind.RSS, name="News", locator="https://example.org/feed")
    unlabeled = [make_face(score=0.5 + i / 100) for i in range(3)]
    from_source = make_face(photo=make_photo(source=source), score=0.99)
    labeled_moa = make_face(score=0.7)
    services.face_label(face=labeled_moa, idol=moa)
    labeled_yui = make_face(score=0.8)
    services.face_label(face=labeled_yui, idol=yui)
    excluded = make_face()
    services.face_exclude(face=excluded, reason=Face.ExclusionReason.NOT_A_FACE)
    trashed = make_face()
    face_services.photo_trash(photo=trashed.photo)
    return {
        "group": group,
        "moa": moa,
        "yui": yui,
        "source": source,
        "unlabeled": unlabeled,
        "from_source": from_source,
        "labeled_moa": labeled_moa,
        "labeled_yui": labeled_yui,
        "excluded": excluded,
        "trashed": trashed,
    }


def page_urls(world) -> list[str]:
    return [
        reverse("labeling:grid"),
        reverse("labeling:grid") + "?status=labeled&sort=score",
        reverse("labeling:idols"),
        reverse("labeling:idol", args=[world["moa"].pk]),
        reverse("labeling:photo", args=[world["labeled_moa"].photo_id]),
        reverse("labeling:activity"),
        reverse("labeling:idol-search") + "?q=mo",
    ]


# --- roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "labeler", "admin"])
def test_every_page_answers_200_for_each_role(client, make_user, world, role):
    client.force_login(make_user(role))
    for url in page_urls(world):
        assert client.get(url).status_code == 200, url


def test_superuser_counts_as_admin(client, admin_user, world):
    client.force_login(admin_user)
    for url in page_urls(world):
        assert client.get(url).status_code == 200, url
    response = client.get(reverse("labeling:idol", args=[world["moa"].pk]))
    assert b"Merge into" in response.content


def test_anonymous_users_are_sent_to_the_login_page(client, world):
    for url in page_urls(world):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("labeling:login") + "?next="), url
    response = post_json(client, "labeling:api-label", {"face_ids": [world["unlabeled"][0].pk], "idol": 1})
    assert response.status_code == 403
    assert client.get(reverse("labeling:login")).status_code == 200


def test_signed_in_user_without_a_role_is_refused(client, make_user, world):
    client.force_login(make_user(None, "nobody"))
    assert client.get(reverse("labeling:grid")).status_code == 403


def test_labeler_signs_in_on_the_labeling_login_not_the_admin(client, labeler):
    response = client.post(reverse("labeling:login"), {"username": labeler.username, "password": "pw-123456"})
    assert response.status_code == 302 and response["Location"] == reverse("home")  # what to do next
    assert not labeler.is_staff
    assert client.get(reverse("admin:index")).status_code == 302  # no admin for labelers


def test_viewer_cannot_post_label_actions(client, viewer, world):
    client.force_login(viewer)
    face = world["unlabeled"][0]
    for name, payload in [
        ("labeling:api-label", {"face_ids": [face.pk], "idol": world["moa"].pk}),
        ("labeling:api-exclude", {"face_ids": [face.pk], "reason": "not_face"}),
        ("labeling:api-unlabel", {"face_ids": [world["labeled_moa"].pk], "idol": world["moa"].pk}),
        ("labeling:idol-create", {"name": "New"}),
    ]:
        assert post_json(client, name, payload).status_code == 403, name
    photo = world["unlabeled"][0].photo
    assert (
        client.post(reverse("labeling:photo-face-add", args=[photo.pk]), {"x": 1, "y": 1, "w": 20, "h": 20}).status_code
        == 403
    )
    assert FaceLabel.objects.count() == 2 and not Idol.objects.filter(name="New").exists()
    assert Face.objects.filter(excluded=True).count() == 1


def test_labeler_cannot_graduate_rename_or_merge(client, labeler, world):
    client.force_login(labeler)
    moa, yui = world["moa"], world["yui"]
    assert client.post(reverse("labeling:idol-graduate", args=[moa.pk]), {"reason": "graduated"}).status_code == 403
    assert client.post(reverse("labeling:idol-rename", args=[moa.pk]), {"name": "X"}).status_code == 403
    assert client.post(reverse("labeling:idol-merge", args=[moa.pk]), {"into": yui.pk}).status_code == 403
    moa.refresh_from_db()
    assert moa.name == "Moa" and not moa.is_deleted
    page = client.get(reverse("labeling:idol", args=[moa.pk])).content.decode()
    assert "Merge into" not in page and "Rename" not in page


def test_admin_role_graduates_restores_renames_and_merges(client, idol_admin, world):
    client.force_login(idol_admin)
    moa, yui = world["moa"], world["yui"]
    response = client.post(reverse("labeling:idol-graduate", args=[moa.pk]), {"reason": "graduated"})
    assert response.status_code == 302
    assert Idol.all_objects.get(pk=moa.pk).deletion_reason == "graduated"
    client.post(reverse("labeling:idol-restore", args=[moa.pk]))
    assert not Idol.all_objects.get(pk=moa.pk).is_deleted
    client.post(reverse("labeling:idol-rename", args=[moa.pk]), {"name": "Moa Kikuchi", "reading": "きくち もあ"})
    moa = Idol.objects.get(pk=moa.pk)
    assert moa.name == "Moa Kikuchi" and moa.aliases.filter(name="Moa", kind="old_name").exists()
    response = client.post(reverse("labeling:idol-merge", args=[yui.pk]), {"into": moa.pk})
    assert response.status_code == 302 and response["Location"] == reverse("labeling:idol", args=[moa.pk])
    assert Idol.all_objects.get(pk=yui.pk).merged_into_id == moa.pk
    assert FaceLabel.objects.filter(idol=moa).count() == 2


# --- the grid -------------------------------------------------------------------------------


def grid_ids(client, **params) -> list[int]:
    response = client.get(reverse("labeling:grid"), params)
    assert response.status_code == 200
    return [f.pk for f in response.context["faces"]]


def test_grid_filters(as_labeler, world):
    w = world
    c = as_labeler
    unlabeled = {f.pk for f in w["unlabeled"]} | {w["from_source"].pk}
    assert set(grid_ids(c)) == unlabeled  # unlabeled by default
    assert set(grid_ids(c, status="unlabeled")) == unlabeled
    assert set(grid_ids(c, status="labeled")) == {w["labeled_moa"].pk, w["labeled_yui"].pk}
    assert set(grid_ids(c, status="excluded")) == {w["excluded"].pk}
    assert set(grid_ids(c, status="all")) == unlabeled | {w["labeled_moa"].pk, w["labeled_yui"].pk}
    assert w["trashed"].pk not in grid_ids(c, status="all")
    assert grid_ids(c, status="all", idol=w["moa"].pk) == [w["labeled_moa"].pk]
    assert grid_ids(c, status="all", group=w["group"].pk) == [w["labeled_moa"].pk]
    assert grid_ids(c, status="all", source=w["source"].pk) == [w["from_source"].pk]
    assert set(grid_ids(c, status="all", score_min="0.75")) == {w["labeled_yui"].pk, w["from_source"].pk}
    assert set(grid_ids(c, status="all", score_min="0.5", score_max="0.51")) == {
        w["unlabeled"][0].pk,
        w["unlabeled"][1].pk,
    }
    Face.objects.filter(pk=w["unlabeled"][0].pk).update(created_at="2020-01-15T12:00:00Z")
    assert grid_ids(c, status="all", date_from="2020-01-01", date_to="2020-01-31") == [w["unlabeled"][0].pk]
    assert w["unlabeled"][0].pk not in grid_ids(c, status="all", date_from="2021-01-01")


def test_grid_sorts(as_labeler, world):
    faces = Face.objects.visible()
    ids = sorted(faces.values_list("pk", flat=True))
    assert grid_ids(as_labeler, status="all", sort="oldest") == ids
    assert grid_ids(as_labeler, status="all", sort="newest") == ids[::-1]
    by_score = [pk for pk, _ in sorted(faces.values_list("pk", "score"), key=lambda r: (r[1], r[0]))]
    assert grid_ids(as_labeler, status="all", sort="score") == by_score
    assert grid_ids(as_labeler, status="all", sort="-score") == by_score[::-1]


def test_grid_rejects_bad_filters_and_cursors(as_labeler):
    assert as_labeler.get(reverse("labeling:grid"), {"status": "nope"}).status_code == 400
    assert as_labeler.get(reverse("labeling:grid"), {"score_min": "2"}).status_code == 400
    assert as_labeler.get(reverse("labeling:grid"), {"sort": "score", "after": "zz"}).status_code == 400


@pytest.mark.parametrize("sort", ["newest", "oldest", "score", "-score"])
def test_keyset_pages_skip_and_repeat_nothing_even_with_inserts(as_labeler, sort):
    photo = make_photo()
    for i in range(23):
        make_face(photo=photo, box=(i, i, 20, 20), score=[0.5, 0.75, 0.9][i % 3])  # many equal scores
    expected = grid_ids(as_labeler, status="all", sort=sort, size=500)
    seen, after, pages = [], "", 0
    while True:
        params = {"status": "all", "sort": sort, "size": 7, **({"after": after} if after else {})}
        response = as_labeler.get(reverse("labeling:grid"), params)
        seen += [f.pk for f in response.context["faces"]]
        pages += 1
        make_face(photo=photo, box=(50 + pages, 50, 20, 20), score=0.75)  # a new face arrives meanwhile
        query = response.context["next_query"]
        if not query:
            break
        after = dict(p.split("=") for p in query.split("&"))["after"]
    assert pages == 4
    assert len(seen) == len(set(seen)), "a face was shown twice"
    # Every face that was there is shown once, in order; a new face shows up only where the
    # sort puts it after the cursor, and never pushes another one off a page.
    assert [pk for pk in seen if pk in set(expected)] == expected
    if sort == "newest":
        assert seen == expected


def test_grid_query_count_does_not_grow_with_page_size(client, labeler, django_assert_num_queries):
    group = make_group()
    idols = [make_idol(group=group) for _ in range(3)]
    faces = [make_face() for _ in range(60)]
    for i, face in enumerate(faces):
        services.face_label(face=face, idol=idols[i % 3], user=labeler)
        if i % 2:
            services.face_label(face=face, idol=idols[(i + 1) % 3], user=labeler)
    client.force_login(labeler)
    client.get(reverse("labeling:grid"))  # warm the session; counts the unlabeled faces left
    # session, user, user perms, group perms, groups, sources, faces, labels + idols, the
    # keys' recent idols and their faces (the count of unlabeled faces is kept in the cache)
    for size in (5, 50):
        with django_assert_num_queries(10):
            response = client.get(reverse("labeling:grid"), {"status": "labeled", "size": size})
        assert len(response.context["faces"]) == size
        assert response.content.count(b'class="chip') >= size
    cache.delete(selectors.UNLABELED_TOTAL_KEY)
    with django_assert_num_queries(11):  # + the count of unlabeled faces, kept for a minute
        client.get(reverse("labeling:grid"), {"status": "labeled", "size": 5})
    with django_assert_num_queries(11):  # + the idol named by the filter
        client.get(reverse("labeling:grid"), {"status": "all", "idol": idols[0].pk, "size": 20})


def test_idol_page_query_count_does_not_grow_with_faces(client, labeler, django_assert_num_queries):
    idol = make_idol(group=make_group())
    faces = [make_face() for _ in range(30)]
    client.force_login(labeler)
    counts = []
    for n in (3, 30):
        services.faces_label(faces=faces[:n], idol=idol)
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("labeling:idol", args=[idol.pk])).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_grid_chips_show_every_label(as_labeler, world):
    services.face_label(face=world["labeled_moa"], idol=world["yui"])
    page = as_labeler.get(reverse("labeling:grid"), {"status": "labeled"}).content.decode()
    assert page.count(f'data-idol="{world["yui"].pk}"') == 2 and f'data-idol="{world["moa"].pk}"' in page


# --- JSON actions ---------------------------------------------------------------------------


def test_bulk_label_then_undo(as_labeler, labeler, world):
    faces = [f.pk for f in world["unlabeled"]] + [world["from_source"].pk]
    response = post_json(as_labeler, "labeling:api-label", {"face_ids": faces, "idol": world["moa"].pk})
    assert response.status_code == 200
    body = response.json()
    assert {f["id"] for f in body["faces"]} == set(faces)
    assert all(f["labels"] == [{"idol": world["moa"].pk, "name": "Moa", "deleted": False}] for f in body["faces"])
    assert FaceLabel.objects.filter(face_id__in=faces, idol=world["moa"], created_by=labeler).count() == 4
    assert LabelEvent.objects.filter(batch=body["batch"]).count() == 4
    response = post_json(as_labeler, "labeling:api-undo", {"batch": body["batch"]})
    assert response.status_code == 200
    assert all(f["labels"] == [] for f in response.json()["faces"])
    assert not FaceLabel.objects.filter(face_id__in=faces).exists()


def test_labeling_faces_that_have_the_label_answers_no_batch(as_labeler, world):
    events = LabelEvent.objects.count()
    response = post_json(
        as_labeler, "labeling:api-label", {"face_ids": [world["labeled_moa"].pk], "idol": world["moa"].pk}
    )
    assert response.status_code == 200 and response.json()["batch"] is None
    assert response.json()["faces"][0]["labels"][0]["idol"] == world["moa"].pk
    assert LabelEvent.objects.count() == events


def test_undo_of_someone_elses_action_is_refused(client, make_user, world):
    other = make_user("labeler", "other")
    batch = uuid.uuid4()
    services.faces_label(faces=world["unlabeled"], idol=world["moa"], user=other, batch=batch)
    client.force_login(make_user("labeler", "me"))
    response = post_json(client, "labeling:api-undo", {"batch": str(batch)})
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert "your own" in response.json()["detail"]
    assert FaceLabel.objects.filter(idol=world["moa"]).count() == 4
    response = client.post(reverse("labeling:activity-undo"), {"batch": str(batch)})
    assert response.status_code == 302 and FaceLabel.objects.filter(idol=world["moa"]).count() == 4


def test_exclude_include_and_unlabel_actions(as_labeler, world):
    face = world["unlabeled"][0]
    response = post_json(as_labeler, "labeling:api-exclude", {"face_ids": [face.pk], "reason": "not_target"})
    assert response.status_code == 200 and response.json()["faces"][0]["excluded"] is True
    assert Face.objects.get(pk=face.pk).exclusion_reason == "not_target"
    assert face.pk not in grid_ids(as_labeler, status="all")
    assert post_json(as_labeler, "labeling:api-include", {"face_ids": [face.pk]}).status_code == 200
    assert not Face.objects.get(pk=face.pk).excluded
    response = post_json(
        as_labeler, "labeling:api-unlabel", {"face_ids": [world["labeled_moa"].pk], "idol": world["moa"].pk}
    )
    assert response.status_code == 200 and response.json()["faces"][0]["labels"] == []


def test_actions_refuse_bad_input_and_change_nothing(as_labeler, world):
    before = FaceLabel.objects.count()
    cases = [
        ("labeling:api-label", {"face_ids": [], "idol": world["moa"].pk}, 400),
        ("labeling:api-label", {"face_ids": ["x"], "idol": world["moa"].pk}, 400),
        ("labeling:api-label", {"face_ids": [world["unlabeled"][0].pk, 999999], "idol": world["moa"].pk}, 404),
        ("labeling:api-label", {"face_ids": [world["unlabeled"][0].pk], "idol": 999999}, 404),
        ("labeling:api-label", {"face_ids": [world["excluded"].pk], "idol": world["moa"].pk}, 409),
        ("labeling:api-exclude", {"face_ids": [world["unlabeled"][0].pk], "reason": "bored"}, 400),
        ("labeling:api-undo", {"batch": "not-a-uuid"}, 400),
        ("labeling:api-undo", {"batch": str(uuid.uuid4())}, 404),
    ]
    for name, payload, status in cases:
        response = post_json(as_labeler, name, payload)
        assert response.status_code == status, (name, payload, response.content)
        body = response.json()
        assert set(body) == {"error", "detail", "fields"} and body["error"] and body["detail"]
    assert (
        as_labeler.post(reverse("labeling:api-label"), data="{nope", content_type="application/json").status_code == 400
    )
    assert as_labeler.get(reverse("labeling:api-label")).status_code == 405
    assert FaceLabel.objects.count() == before and not Face.objects.get(pk=world["unlabeled"][0].pk).excluded


def test_labeling_a_graduated_idol_is_allowed_a_merged_one_is_not(as_labeler, world):
    services.idol_soft_delete(idol=world["yui"])
    face = world["unlabeled"][0]
    assert (
        post_json(as_labeler, "labeling:api-label", {"face_ids": [face.pk], "idol": world["yui"].pk}).status_code == 200
    )
    services.idol_restore(idol=world["yui"])
    services.idol_merge(keep=world["moa"], drop=world["yui"])
    response = post_json(as_labeler, "labeling:api-label", {"face_ids": [face.pk], "idol": world["yui"].pk})
    assert response.status_code == 409 and response.json()["error"] == "merged_idol"
    assert "merged" in response.json()["detail"]


# --- CSRF and escaping ----------------------------------------------------------------------


def test_csrf_is_enforced_on_json_actions_and_forms(labeler, world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(labeler)
    face = world["unlabeled"][0]
    payload = {"face_ids": [face.pk], "idol": world["moa"].pk}
    assert post_json(client, "labeling:api-label", payload).status_code == 403
    photo = face.photo
    assert (
        client.post(reverse("labeling:photo-face-add", args=[photo.pk]), {"x": 1, "y": 1, "w": 20, "h": 20}).status_code
        == 403
    )
    assert not FaceLabel.objects.filter(face=face).exists() and photo.faces.count() == 1
    page = client.get(reverse("labeling:grid"))
    token = str(page.context["csrf_token"])
    assert f'data-csrf="{token}"' in page.content.decode()
    assert post_json(client, "labeling:api-label", payload, HTTP_X_CSRFTOKEN=token).status_code == 200


def test_idol_names_are_escaped_on_every_page(client, idol_admin, world):
    evil = make_idol(XSS, reading=XSS, aliases=[XSS + " old"], group=make_group(XSS))
    services.face_label(face=world["unlabeled"][0], idol=evil, user=idol_admin)
    client.force_login(idol_admin)
    face = world["unlabeled"][0]
    urls = [
        reverse("labeling:grid") + "?status=labeled",
        reverse("labeling:grid") + f"?status=all&idol={evil.pk}",
        reverse("labeling:idol", args=[evil.pk]),
        reverse("labeling:idols") + "?q=script",
        reverse("labeling:photo", args=[face.photo_id]),
        reverse("labeling:activity"),
    ]
    for url in urls:
        page = client.get(url).content.decode()
        assert XSS not in page, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url
    response = client.get(reverse("labeling:idol-search"), {"q": "script"})
    assert response["Content-Type"] == "application/json"
    assert response.json()["results"][0]["name"] == XSS  # data; the page renders it as text
    answer = post_json(client, "labeling:api-label", {"face_ids": [face.pk], "idol": evil.pk})
    assert answer["Content-Type"] == "application/json"


def test_the_pages_javascript_never_renders_names_as_html():
    from pathlib import Path

    import labeling

    scripts = sorted((Path(labeling.__file__).parent / "static" / "labeling").glob("*.js"))
    assert {"grid.js", "labeling.js"} <= {p.name for p in scripts}
    for path in scripts:
        script = path.read_text()
        assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script
        assert "textContent" in script, path.name


# --- selectors ------------------------------------------------------------------------------


def test_grid_selector_pages_by_score_with_ties():
    photo = make_photo()
    faces = [make_face(photo=photo, box=(i, 0, 10, 10), score=0.5) for i in range(5)]
    filters = selectors.GridFilters(status="all", sort="score")
    first = selectors.face_grid(filters=filters, size=2)
    second = selectors.face_grid(filters=filters, cursor=first.next_cursor, size=2)
    third = selectors.face_grid(filters=filters, cursor=second.next_cursor, size=2)
    assert [f.pk for f in first.faces + second.faces + third.faces] == [f.pk for f in faces]
    assert third.next_cursor is None
