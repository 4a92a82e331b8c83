"""The grid page and the API read one query string into the same filters."""

from __future__ import annotations

import datetime

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
