"""The keys 1-9 and the grid's counts, without a browser: each user's recent idols (order,
distinct, nine at most, their own labels only, graduated and merged ones dropped, a fixed
number of queries whatever the history), the legend on the pages and in the label action's
answer, and how many unlabeled faces are left (exact without a filter, capped with one)."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse

from faces import services as face_services
from faces.models import Face, Source
from labeling import selectors, services
from labeling.models import How
from labeling.selectors import GridFilters
from tests.factories import make_face, make_idol, make_photo

pytestmark = pytest.mark.django_db


def post_json(client, name: str, payload: dict):
    return client.post(reverse(name), data=json.dumps(payload), content_type="application/json")


def names(user) -> list[str]:
    return [idol.name for idol in selectors.recent_idols(user=user)]


# --- recent idols -----------------------------------------------------------------------------


def test_recent_idols_newest_first_distinct_and_nine_at_most(labeler):
    idols = [make_idol(f"Idol {i}") for i in range(12)]
    faces = [make_face() for _ in range(14)]
    assert names(labeler) == []
    for face, idol in zip(faces, idols, strict=False):
        services.face_label(face=face, idol=idol, user=labeler)
    # Idol 0 used again last: first, and once.
    services.face_label(face=faces[12], idol=idols[0], user=labeler)
    services.faces_label(faces=[faces[13]], idol=idols[5], user=labeler, how=How.SUGGESTION)
    assert names(labeler) == [
        "Idol 5",
        "Idol 0",
        "Idol 11",
        "Idol 10",
        "Idol 9",
        "Idol 8",
        "Idol 7",
        "Idol 6",
        "Idol 4",
    ]
    recent = selectors.recent_idols(user=labeler)
    assert recent[0].id == idols[5].pk
    # Her face: the crop of her newest labeled face.
    assert recent[0].face == faces[13].crop.url
    assert recent[0].as_json() == {"id": idols[5].pk, "name": "Idol 5", "face": faces[13].crop.url}


def test_recent_idols_are_each_users_own_and_only_labels_they_gave(labeler, make_user):
    other = make_user("labeler", "other")
    mine, theirs, imported = make_idol("Mine"), make_idol("Theirs"), make_idol("Imported")
    services.face_label(face=make_face(), idol=mine, user=labeler)
    services.face_label(face=make_face(), idol=theirs, user=other)
    # An import, an undo and a removal are no choice of hers.
    services.face_label(face=make_face(), idol=imported, user=labeler, how=How.IMPORT)
    face = make_face()
    services.face_label(face=face, idol=theirs, user=other)
    services.face_unlabel(face=face, idol=theirs, user=labeler)
    assert names(labeler) == ["Mine"]
    assert names(other) == ["Theirs"]


def test_graduated_and_merged_idols_drop_out_of_the_keys(labeler):
    a, b, c, d = (make_idol(name) for name in ("A", "B", "C", "D"))
    for idol in (a, b, c, d):
        services.face_label(face=make_face(), idol=idol, user=labeler)
    assert names(labeler) == ["D", "C", "B", "A"]
    services.idol_soft_delete(idol=c, reason="graduated")
    services.idol_merge(keep=a, drop=d)
    assert names(labeler) == ["B", "A"]
    services.idol_restore(idol=c)
    assert names(labeler) == ["C", "B", "A"]


def test_recent_idols_read_only_the_latest_events(labeler, monkeypatch):
    old, new = make_idol("Old"), make_idol("New")
    services.face_label(face=make_face(), idol=old, user=labeler)
    for _ in range(3):
        services.face_label(face=make_face(), idol=new, user=labeler)
    assert names(labeler) == ["New", "Old"]
    monkeypatch.setattr(selectors, "RECENT_WINDOW", 3)
    assert names(labeler) == ["New"]


def test_recent_idols_run_a_fixed_number_of_queries(labeler, django_assert_num_queries):
    idols = [make_idol() for _ in range(12)]
    with django_assert_num_queries(1):  # none yet: no faces to look up
        assert selectors.recent_idols(user=labeler) == []
    counts = []
    for n in (3, 40):
        for i in range(n):
            services.face_label(face=make_face(), idol=idols[i % len(idols)], user=labeler)
        with django_assert_num_queries(2) as ctx:  # the idols, then their faces
            selectors.recent_idols(user=labeler)
        counts.append(len(ctx.captured_queries))
    assert counts == [2, 2]


def test_recent_idols_of_nobody_signed_in():
    from django.contrib.auth.models import AnonymousUser

    assert selectors.recent_idols(user=AnonymousUser()) == []


# --- the legend and the label action ----------------------------------------------------------


def legend(content: str) -> list[tuple[str, str]]:
    block = re.search(r'<ol id="idol-keys-list">(.*?)</ol>', content, re.S).group(1)
    return re.findall(r'<kbd>(\d)</kbd>.*?<span class="name">(.*?)</span>', block)


def test_the_grid_photo_and_idol_pages_show_the_keys_legend(as_labeler, labeler):
    face = make_face()
    a, b = make_idol("Airi"), make_idol("<b>Bold</b>")
    services.face_label(face=make_face(), idol=a, user=labeler)
    services.face_label(face=face, idol=b, user=labeler)
    for url in (
        reverse("labeling:grid"),
        reverse("labeling:photo", args=[face.photo_id]),
        reverse("labeling:idol", args=[a.pk]),
    ):
        content = as_labeler.get(url).content.decode()
        assert legend(content) == [("1", "&lt;b&gt;Bold&lt;/b&gt;"), ("2", "Airi")], url
        data = json.loads(
            re.search(r'<script id="recent-idols" type="application/json">(.*?)</script>', content).group(1)
        )
        assert [idol["id"] for idol in data] == [b.pk, a.pk]


def test_the_legend_says_how_to_fill_it_and_viewers_see_none(as_labeler, client, viewer):
    make_face()
    content = as_labeler.get(reverse("labeling:grid")).content.decode()
    assert legend(content) == []
    assert 'id="idol-keys-none"' in content and 'id="idol-keys-none" hidden' not in content
    client.force_login(viewer)
    assert 'id="idol-keys"' not in client.get(reverse("labeling:grid")).content.decode()


def test_the_label_action_answers_the_new_recent_idols(as_labeler, labeler):
    a, b = make_idol("A"), make_idol("B")
    faces = [make_face() for _ in range(3)]
    body = post_json(as_labeler, "labeling:api-label", {"face_ids": [faces[0].pk], "idol": a.pk}).json()
    assert [idol["name"] for idol in body["recent"]] == ["A"]
    body = post_json(as_labeler, "labeling:api-label", {"face_ids": [faces[1].pk, faces[2].pk], "idol": b.pk}).json()
    assert [idol["name"] for idol in body["recent"]] == ["B", "A"]
    assert body["recent"][0] == {"id": b.pk, "name": "B", "face": faces[2].crop.url}
    # Nothing changed (she had that label): no batch, the same keys.
    body = post_json(as_labeler, "labeling:api-label", {"face_ids": [faces[0].pk], "idol": a.pk}).json()
    assert body["batch"] is None and [idol["name"] for idol in body["recent"]] == ["B", "A"]


# --- unlabeled faces left ---------------------------------------------------------------------


@pytest.fixture
def faces_of_every_kind():
    moa, yui = make_idol("Moa"), make_idol("Yui")
    source = Source.objects.create(kind=Source.Kind.RSS, name="News", locator="https://example.org/feed")
    unlabeled = [make_face(score=0.5 + i / 100) for i in range(4)]
    from_source = [make_face(photo=make_photo(source=source), score=0.95) for _ in range(3)]
    twice = make_face()  # two labels: one face labeled, not two
    services.face_label(face=twice, idol=moa)
    services.face_label(face=twice, idol=yui)
    services.face_label(face=make_face(), idol=moa)
    services.face_label(face=from_source[0], idol=yui)
    excluded = make_face()
    services.face_exclude(face=excluded, reason=Face.ExclusionReason.NOT_A_FACE)
    labeled_excluded = make_face()  # excluded after it was labeled
    services.face_label(face=labeled_excluded, idol=moa)
    services.face_exclude(face=labeled_excluded, reason=Face.ExclusionReason.NOT_A_TARGET)
    trashed, labeled_trashed = make_face(), make_face()
    services.face_label(face=labeled_trashed, idol=yui)
    face_services.photo_trash(photo=trashed.photo)
    face_services.photo_trash(photo=labeled_trashed.photo)
    return {"moa": moa, "source": source, "unlabeled": unlabeled, "from_source": from_source}


def test_unlabeled_total_is_exact_in_one_query(faces_of_every_kind, django_assert_num_queries):
    expected = selectors.face_grid_queryset(GridFilters()).count()
    assert expected == 6  # four, and two from the source
    with django_assert_num_queries(1):
        assert selectors.unlabeled_total() == expected
    left = selectors.unlabeled_left(GridFilters(status="labeled", sort="score"))  # whatever is shown
    assert left == selectors.UnlabeledLeft(count=6, more=False, filtered=False)
    # Labeling one, excluding another, trashing a third: each is one fewer.
    services.face_label(face=faces_of_every_kind["unlabeled"][0], idol=faces_of_every_kind["moa"])
    services.face_exclude(face=faces_of_every_kind["unlabeled"][1], reason=Face.ExclusionReason.NOT_A_FACE)
    face_services.photo_trash(photo=faces_of_every_kind["unlabeled"][2].photo)
    assert selectors.unlabeled_total() == 3 == selectors.face_grid_queryset(GridFilters()).count()


def test_unlabeled_total_of_no_faces():
    assert selectors.unlabeled_total() == 0


def test_unlabeled_left_under_filters_counts_to_a_cap(faces_of_every_kind, monkeypatch, django_assert_num_queries):
    source = faces_of_every_kind["source"]
    with django_assert_num_queries(1):
        left = selectors.unlabeled_left(GridFilters(source=source.pk))
    assert left == selectors.UnlabeledLeft(count=2, more=False, filtered=True)
    assert selectors.unlabeled_left(GridFilters(score_min=0.9)) == selectors.UnlabeledLeft(2, False, True)
    assert selectors.unlabeled_left(GridFilters(score_max=0.52)) == selectors.UnlabeledLeft(3, False, True)
    tomorrow = date.today() + timedelta(days=1)
    assert selectors.unlabeled_left(GridFilters(date_from=tomorrow)) == selectors.UnlabeledLeft(0, False, True)
    assert selectors.unlabeled_left(GridFilters(date_from=date.today())).count == 6
    monkeypatch.setattr(selectors, "UNLABELED_CAP", 4)
    assert selectors.unlabeled_left(GridFilters(score_max=0.99)) == selectors.UnlabeledLeft(4, True, True)
    # An idol's or a group's faces are labeled: no count.
    assert selectors.unlabeled_left(GridFilters(status="all", idol=faces_of_every_kind["moa"].pk)) is None


def test_the_grid_shows_the_counts(as_labeler, faces_of_every_kind):
    content = as_labeler.get(reverse("labeling:grid"), {"status": "unlabeled"}).content.decode()
    assert re.search(
        r'id="unlabeled-left" data-count="6" data-more="0" data-filtered="0">\s*6 unlabeled faces left', content
    )
    assert '<span id="page-progress">0 of 6 on this page labeled</span>' in content
    content = as_labeler.get(reverse("labeling:grid"), {"status": "all"}).content.decode()
    assert re.search(r">\s*6 unlabeled faces left", content)
    assert "3 of 9 on this page labeled" in content  # "all" shows no excluded face
    source = faces_of_every_kind["source"].pk
    content = as_labeler.get(reverse("labeling:grid"), {"source": source}).content.decode()
    assert re.search(r">\s*2 unlabeled faces left with these filters", content)
    content = as_labeler.get(reverse("labeling:grid"), {"status": "all", "idol": faces_of_every_kind["moa"].pk}).content
    assert b'id="unlabeled-left"' not in content


def test_the_grid_says_more_than_past_the_cap(as_labeler, faces_of_every_kind, monkeypatch):
    monkeypatch.setattr(selectors, "UNLABELED_CAP", 1)
    content = as_labeler.get(reverse("labeling:grid"), {"score_min": "0.5"}).content.decode()
    assert re.search(r'data-more="1" data-filtered="1">\s*More than 1 unlabeled faces left with these filters', content)


def test_the_kept_count_follows_every_label_event(faces_of_every_kind, labeler, django_capture_on_commit_callbacks):
    moa, unlabeled = faces_of_every_kind["moa"], faces_of_every_kind["unlabeled"]
    yui = make_idol("Yui 2")
    assert selectors.unlabeled_total_kept() == 6

    def kept_is_exact() -> int:
        exact = selectors.unlabeled_total()
        assert selectors.unlabeled_total_kept() == exact
        return exact

    steps = [
        lambda: services.face_label(face=unlabeled[0], idol=moa, user=labeler),
        lambda: services.face_label(face=unlabeled[0], idol=yui, user=labeler),  # a second label
        lambda: services.face_unlabel(face=unlabeled[0], idol=moa, user=labeler),
        lambda: services.face_unlabel(face=unlabeled[0], idol=yui, user=labeler),  # open again
        lambda: services.face_exclude(face=unlabeled[1], reason=Face.ExclusionReason.NOT_A_FACE),
        lambda: services.face_include(face=unlabeled[1]),
        lambda: services.faces_label(faces=unlabeled[:3], idol=yui, user=labeler),
        lambda: services.face_exclude(face=unlabeled[0], reason=Face.ExclusionReason.NOT_A_TARGET),  # was labeled
        lambda: services.idol_merge(keep=moa, drop=yui),
    ]
    seen = []
    for step in steps:
        with django_capture_on_commit_callbacks(execute=True):
            step()
        seen.append(kept_is_exact())
    assert seen == [5, 5, 5, 6, 5, 6, 3, 3, 3]
    # An undo too.
    with django_capture_on_commit_callbacks(execute=True):
        batch = services.faces_unlabel(faces=unlabeled[1:3], idol=moa, user=labeler)
    assert kept_is_exact() == 5
    with django_capture_on_commit_callbacks(execute=True):
        services.label_batch_undo(batch=batch, user=labeler)
    assert kept_is_exact() == 3


def test_a_rolled_back_label_moves_nothing(faces_of_every_kind, django_capture_on_commit_callbacks):
    from django.db import transaction

    assert selectors.unlabeled_total_kept() == 6
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        services.face_label(face=faces_of_every_kind["unlabeled"][0], idol=faces_of_every_kind["moa"])
        raise RuntimeError("changed my mind")
    assert selectors.unlabeled_total_kept() == 6 == selectors.unlabeled_total()


def test_the_kept_count_costs_no_query_and_recounts_after_a_minute(faces_of_every_kind, django_assert_num_queries):
    assert selectors.unlabeled_total_kept() == 6
    with django_assert_num_queries(0):
        assert selectors.unlabeled_total_kept() == 6
    # A new face writes no label event: it shows when the kept count expires.
    make_face()
    assert selectors.unlabeled_total_kept() == 6
    cache.delete(selectors.UNLABELED_TOTAL_KEY)  # what the hour does
    assert selectors.unlabeled_total_kept() == 7


def test_a_stale_count_is_shown_while_one_task_counts_again(faces_of_every_kind, monkeypatch):
    from labeling import tasks

    assert selectors.unlabeled_total_kept() == 6
    make_face()  # no label event: the kept count does not know
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda name, *args, **kwargs: queued.append(name))
    assert selectors.unlabeled_total_kept() == 6 and queued == []  # fresh for a minute
    cache.delete(selectors.UNLABELED_FRESH_KEY)  # what the minute does
    assert selectors.unlabeled_total_kept() == 6 and selectors.unlabeled_total_kept() == 6
    assert queued == ["labeling.tasks.recount_unlabeled_total"]  # once, not once a page
    assert tasks.recount_unlabeled_total() == "7 unlabeled faces"
    assert selectors.unlabeled_total_kept() == 7 and queued == ["labeling.tasks.recount_unlabeled_total"]
