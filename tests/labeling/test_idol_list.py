"""The idol index: a face, the labeled faces, groups and reading of each idol; graduated ones a
tab away; a fixed number of queries."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from labeling import services
from tests.factories import make_face, make_group, make_idol

pytestmark = pytest.mark.django_db


def names(html: str) -> list[str]:
    return re.findall(r'<td><a href="/label/idols/\d+/">([^<]+)</a></td>', html)


def page(client, **params) -> str:
    response = client.get(reverse("labeling:idols"), params)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def cast():
    group = make_group("乃木坂46")
    aoi = make_idol("Aoi", reading="あおい", group=group)
    beni = make_idol("Beni", reading="べに")
    gone = make_idol("Chika", reading="ちか", group=group)
    retired = make_idol("Dai")
    merged = make_idol("Aoi twin")
    for _ in range(3):
        services.face_label(face=make_face(), idol=aoi)
    services.face_label(face=make_face(), idol=gone)
    services.idol_soft_delete(idol=gone, reason="graduated")
    services.idol_soft_delete(idol=retired, reason="retired")
    services.idol_merge(keep=aoi, drop=merged)
    return {"aoi": aoi, "beni": beni, "gone": gone, "retired": retired, "merged": merged}


def test_each_idol_with_her_face_labeled_faces_group_and_reading(as_labeler, cast):
    html = page(as_labeler)
    assert names(html) == ["Aoi", "Beni"]
    row = re.search(r"<tr><td class=\"face\">(.*?)</tr>", html, re.S).group(1)
    assert "<img src=" in row and "あおい" in row and "乃木坂46" in row and "<td>3</td>" in row


def test_graduated_ones_are_one_tab_away(as_labeler, cast):
    html = page(as_labeler)
    tab = re.search(r'<a href="\?status=graduated"[^>]*>(.*?)</a>', html, re.S)
    assert tab and "(2)" in tab.group(1)
    graduated = page(as_labeler, status="graduated")
    assert names(graduated) == ["Chika", "Dai"]
    assert 'data-tab="graduated"' in graduated and 'aria-current="page" data-tab="graduated"' in graduated
    assert "Graduated" in graduated and "Retired" in graduated
    assert names(page(as_labeler, status="all")) == ["Aoi", "Aoi twin", "Beni", "Chika", "Dai"]
    # the old checkbox's address still shows everyone; an unknown tab the active ones
    assert names(page(as_labeler, deleted="1")) == names(page(as_labeler, status="all"))
    assert names(page(as_labeler, status="bogus")) == ["Aoi", "Beni"]


def test_a_search_keeps_its_tab(as_labeler, cast):
    html = page(as_labeler, status="graduated", q="ちか")
    assert names(html) == ["Chika"]
    assert 'href="?status=all&amp;q=%E3%81%A1%E3%81%8B"' in html
    assert '<input type="hidden" name="status" value="graduated">' in html


def test_a_long_list_says_it_is_cut(as_labeler, monkeypatch):
    monkeypatch.setattr("labeling.views.idols.IDOL_LIST_LIMIT", 2)
    for name in ("A", "B", "C"):
        make_idol(name)
    html = page(as_labeler)
    assert names(html) == ["A", "B"] and "The first 2 by name" in html
    assert "The first" not in page(as_labeler, q="A")


def test_a_fixed_number_of_queries(as_labeler, cast, django_assert_num_queries):
    page(as_labeler)
    # session, user, user and group permissions, the tabs' counts, the idols, their groups
    with django_assert_num_queries(7):
        page(as_labeler, status="all")
    for i in range(10):
        idol = make_idol(f"More {i}", group=make_group())
        services.face_label(face=make_face(), idol=idol)
        services.idol_soft_delete(idol=make_idol(f"Left {i}"), reason="graduated")
    with django_assert_num_queries(7):
        page(as_labeler, status="all")
    with django_assert_num_queries(7):
        page(as_labeler, status="graduated")
