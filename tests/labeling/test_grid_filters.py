"""The grid page and the API read one query string into the same filters."""

from __future__ import annotations

import datetime
import re

import pytest
from django.http import QueryDict

from faces.models import Face
from labeling.filters import FaceGridFilter
from labeling.forms import GridFilterForm
from labeling.selectors import GridFilters


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", GridFilters()),
        (
            "status=labeled&idol=7&date_from=2024-01-02&score_min=0.25&score_max=0.5&sort=-score",
            GridFilters(
                status="labeled",
                idol=7,
                date_from=datetime.date(2024, 1, 2),
                score_min=0.25,
                score_max=0.5,
                sort="-score",
            ),
        ),
        ("status=&sort=", GridFilters()),
    ],
)
def test_page_and_api_build_the_same_grid_filters(query, expected):
    params = QueryDict(query)
    form = GridFilterForm(params, groups=[], sources=[])
    filterset = FaceGridFilter(params, queryset=Face.objects.none())
    assert form.is_valid() and filterset.is_valid()
    page, api = form.filters(), filterset.grid_filters()
    assert page == api == expected
    assert type(page.score_min) is type(api.score_min)


def test_the_group_and_source_selects_are_written_as_django_would_escaped_and_chosen():
    groups = [(i, f"<b>G{i}</b> & co") for i in range(1, 300)]
    form = GridFilterForm({"group": "7"}, groups=groups, sources=[(2, "Feed")])
    assert form.is_valid()
    html = str(form["group"])
    assert html.startswith('<select name="group" class="f" id="id_group">') and html.endswith("</select>")
    options = re.findall(r'<option value="(\d*)"( selected)?>([^<]*)</option>', html)
    assert len(options) == 300 and options[0][0] == "" and options[1] == ("1", "", "&lt;b&gt;G1&lt;/b&gt; &amp; co")
    assert [value for value, chosen, _ in options if chosen] == ["7"]
    assert '<option value="" selected>' in str(GridFilterForm(groups=groups, sources=[])["source"])
