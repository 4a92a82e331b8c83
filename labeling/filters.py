"""Query-string filters of labeling's lists (django-filter)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from core.api import DateTimeFilter, FlagFilter, IdFilter
from faces.models import Face
from labeling.models import How, Idol, LabelEvent, Membership
from labeling.selectors import SORTS, STATUSES, GridFilters


class FaceGridFilter(django_filters.FilterSet):
    """The face grid's filters (``labeling.selectors.face_grid``): the list validates them here
    and the selector builds the query, with the keyset order of ``sort``."""

    status = django_filters.ChoiceFilter(
        choices=[(s, s) for s in STATUSES], method="_given", help_text="Default: unlabeled."
    )
    idol = IdFilter(method="_given", help_text="Faces labeled with this idol.")
    group = IdFilter(method="_given", help_text="Faces labeled with a member (ever) of this group.")
    source = IdFilter(method="_given", help_text="Faces on photos of this source.")
    date_from = django_filters.DateFilter(method="_given", help_text="Added on or after this day.")
    date_to = django_filters.DateFilter(method="_given", help_text="Added on or before this day.")
    score_min = django_filters.NumberFilter(method="_given", min_value=0, max_value=1)
    score_max = django_filters.NumberFilter(method="_given", min_value=0, max_value=1)
    sort = django_filters.ChoiceFilter(
        choices=[(s, s) for s in SORTS], method="_given", help_text="newest (default), oldest, score, -score."
    )

    class Meta:
        model = Face
        fields: list[str] = []

    def _given(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        return queryset  # the selector applies them all (grid_filters)

    def grid_filters(self) -> GridFilters:
        return GridFilters.from_cleaned(self.form.cleaned_data)


class IdolFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="_given",
        max_length=100,
        help_text="The typeahead: ranked matches of name, reading, alias, handle, group.",
    )
    deleted = FlagFilter(method="_given", help_text="1: graduated and retired idols too.")
    group = IdFilter(method="filter_group", help_text="Idols who were ever in this group.")

    class Meta:
        model = Idol
        fields = ["q", "deleted", "group"]

    def _given(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        return queryset  # the view reads them (q: the typeahead; deleted: which idols)

    def filter_group(self, queryset: QuerySet[Idol], name: str, value: int) -> QuerySet[Idol]:
        return queryset.filter(pk__in=Membership.objects.filter(group_id=value).values("idol_id"))


class MembershipFilter(django_filters.FilterSet):
    idol = IdFilter(field_name="idol_id")
    group = IdFilter(field_name="group_id")
    current = FlagFilter(field_name="left", lookup_expr="isnull", help_text="1: not ended.")

    class Meta:
        model = Membership
        fields = ["idol", "group", "current"]


class LabelEventFilter(django_filters.FilterSet):
    face = IdFilter(field_name="face_id")
    idol = IdFilter(field_name="idol_id")
    user = IdFilter(field_name="user_id")
    action = django_filters.ChoiceFilter(choices=LabelEvent.Action.choices)
    how = django_filters.ChoiceFilter(choices=How.choices)
    batch = django_filters.UUIDFilter()
    since = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = DateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = LabelEvent
        fields = ["face", "idol", "user", "action", "how", "batch", "since", "until"]
