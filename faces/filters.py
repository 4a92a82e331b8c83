"""Query-string filters of the photo and source lists (django-filter)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from core.api import DateTimeFilter, FlagFilter, IdFilter
from faces.models import Photo, Source


class PhotoFilter(django_filters.FilterSet):
    """``?status=&source=&trashed=1&added_after=&added_before=&q=``. The trash is shown only
    with ``trashed=1`` (and then only the trash). Apps built on faces add their filters in a
    subclass (labeling.face_filters: ``idol=``)."""

    status = django_filters.ChoiceFilter(choices=Photo.Status.choices)
    source = IdFilter(field_name="source_id")
    trashed = FlagFilter(method="filter_trashed", help_text=_("1: only the trash; 0 (default): none of it."))
    added_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    added_before = DateTimeFilter(field_name="created_at", lookup_expr="lte")
    q = django_filters.CharFilter(
        method="filter_text", max_length=200, help_text=_("In the file name, caption or author.")
    )

    class Meta:
        model = Photo
        fields = ["status", "source", "trashed", "added_after", "added_before", "q"]

    def filter_queryset(self, queryset: QuerySet[Photo]) -> QuerySet[Photo]:
        if self.form.cleaned_data.get("trashed") is None:
            queryset = queryset.filter(trashed_at__isnull=True)
        return super().filter_queryset(queryset)

    def filter_trashed(self, queryset: QuerySet[Photo], name: str, value: bool | None) -> QuerySet[Photo]:
        if value is None:
            return queryset
        return queryset.filter(trashed_at__isnull=not value)

    def filter_text(self, queryset: QuerySet[Photo], name: str, value: str) -> QuerySet[Photo]:
        from django.db.models import Q

        return queryset.filter(
            Q(original_name__icontains=value) | Q(caption__icontains=value) | Q(author__icontains=value)
        )


class SourceFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Source.Kind.choices)
    enabled = FlagFilter()

    class Meta:
        model = Source
        fields = ["kind", "enabled"]
