"""The idol typeahead: folding, ranking, aliases, groups, handles, graduated idols, inline
creation, and its speed in queries."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from labeling import search, services
from labeling.models import Idol
from tests.factories import make_face, make_group, make_idol

pytestmark = pytest.mark.django_db


def names(client, q: str, **params) -> list[str]:
    response = client.get(reverse("labeling:idol-search"), {"q": q, **params})
    assert response.status_code == 200
    return [r["name"] for r in response.json()["results"]]


@pytest.mark.parametrize("query", ["はるか", "ハルカ", "ﾊﾙｶ", "ＨＡＲＵＫＡ", "haruka"])
def test_kana_width_and_case_are_folded(as_labeler, query):
    make_idol("遥", reading="はるか", handles={"x": "haruka_official"})
    make_idol("美咲", reading="みさき")
    assert names(as_labeler, query) == ["遥"]


def test_prefix_matches_come_before_substring_matches(as_labeler):
    make_idol("Ami Haruna", reading="あみ はるな")  # "はる" inside the reading: a word prefix
    make_idol("Chiharu", reading="ちはる")  # "はる" only as a substring
    make_idol("Haruka", reading="はるか")  # the reading starts with it
    assert names(as_labeler, "はる") == ["Haruka", "Ami Haruna", "Chiharu"]


def test_active_idols_come_before_graduated_ones_which_come_only_when_asked(as_labeler):
    old = make_idol("Sakura Old", reading="さくら")
    make_idol("Sakura New", reading="さくら")
    services.idol_soft_delete(idol=old)
    assert names(as_labeler, "sakura") == ["Sakura New"]
    assert names(as_labeler, "sakura", deleted="1") == ["Sakura New", "Sakura Old"]
    result = as_labeler.get(reverse("labeling:idol-search"), {"q": "sakura", "deleted": "1"}).json()["results"]
    assert [r["status"] for r in result] == ["active", "graduated"]
    # Her very reading: a new idol of that name would be refused, so she is shown instead.
    assert names(as_labeler, "さくら") == ["Sakura New", "Sakura Old"]


def test_merged_idols_never_show_their_names_lead_to_the_keeper(as_labeler):
    keep, drop = make_idol("Keep"), make_idol("Dropped")
    services.idol_merge(keep=keep, drop=drop)
    assert names(as_labeler, "dropped", deleted="1") == ["Keep"]


def test_old_names_aliases_groups_and_handles_find_the_idol(as_labeler):
    group = make_group("桜学院")
    idol = make_idol("Moa", reading="もあ", aliases=["Moametal"], handles={"instagram": "moa_ig"}, group=group)
    services.idol_rename(idol=idol, name="Moa Kikuchi")
    make_idol("Other")
    assert names(as_labeler, "moa") == ["Moa Kikuchi"]  # the old name "Moa" is an alias now
    assert names(as_labeler, "moametal") == ["Moa Kikuchi"]
    assert names(as_labeler, "桜学院") == ["Moa Kikuchi"]
    assert names(as_labeler, "moa_ig") == ["Moa Kikuchi"]
    hit = as_labeler.get(reverse("labeling:idol-search"), {"q": "桜"}).json()["results"][0]
    assert hit["groups"] == ["桜学院"] and hit["matched"] == "桜学院"


def test_results_carry_groups_and_face_counts(as_labeler):
    idol = make_idol("Yui", group=make_group("BABY"))
    services.faces_label(faces=[make_face(), make_face()], idol=idol)
    [hit] = as_labeler.get(reverse("labeling:idol-search"), {"q": "yui"}).json()["results"]
    assert hit["faces"] == 2 and hit["groups"] == ["BABY"] and hit["status"] == "active"


def test_every_word_must_match(as_labeler):
    make_idol("佐藤 遥", reading="さとう はるか")
    make_idol("鈴木 遥", reading="すずき はるか")
    assert names(as_labeler, "さとう ﾊﾙｶ") == ["佐藤 遥"]
    assert names(as_labeler, "   ") == []


def test_typeahead_runs_a_fixed_number_of_queries(client, labeler, django_assert_num_queries):
    group = make_group()
    for i in range(40):
        make_idol(f"Haru {i}", group=group)
    client.force_login(labeler)
    client.get(reverse("labeling:grid"))
    names(client, "warm the idol cache")
    # session, user, user perms, group perms, the idol table's version, face counts
    with django_assert_num_queries(6):
        assert len(names(client, "haru")) == 15


def test_ranking_helper_prefers_own_names():
    idol = make_idol("Hana", reading="はな", aliases=["Hanako"])
    other = make_idol("Ichika", reading="いちか", aliases=["Hana-chan"])
    assert [h.id for h in search.idol_search("hana")] == [idol.pk, other.pk]


# --- inline creation ------------------------------------------------------------------------


def test_labeler_creates_an_idol_inline(as_labeler):
    response = as_labeler.post(
        reverse("labeling:idol-create"),
        json.dumps({"name": "  New   Girl ", "reading": "にゅー"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    idol = Idol.objects.get(pk=response.json()["idol"]["id"])
    assert idol.name == "New Girl" and idol.reading == "にゅー"
    assert names(as_labeler, "ニュー") == ["New Girl"]


def test_inline_creation_refuses_an_empty_name(as_labeler):
    response = as_labeler.post(
        reverse("labeling:idol-create"), json.dumps({"name": " "}), content_type="application/json"
    )
    assert response.status_code == 400 and "name" in response.json()["detail"]
    assert not Idol.all_objects.exists()


def test_the_idol_cache_sees_every_change(as_labeler):
    group = make_group("Old Group")
    idol = make_idol("Rin", group=group)
    assert names(as_labeler, "rin") == ["Rin"]
    services.idol_alias_add(idol=idol, name="Rinrin")
    assert names(as_labeler, "rinrin") == ["Rin"]
    services.membership_end(membership=idol.memberships.get())
    assert as_labeler.get(reverse("labeling:idol-search"), {"q": "rin"}).json()["results"][0]["groups"] == []
    services.idol_soft_delete(idol=idol)
    assert names(as_labeler, "ri") == []
    assert names(as_labeler, "rin") == ["Rin"]  # her very name: shown, graduated, instead of "Create"
    make_idol("Rina")
    assert names(as_labeler, "ri") == ["Rina"]
