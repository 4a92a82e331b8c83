"""faces' photo filter with labeling's part: photos with a face labeled with an idol."""

from __future__ import annotations

from django.db.models import QuerySet

from core.api import IdFilter
from faces import filters as faces_filters
from faces.models import Face, Photo


class PhotoFilter(faces_filters.PhotoFilter):
    """faces' ``?status=&source=&trashed=1&added_after=&added_before=&q=`` and ``idol=``."""

    idol = IdFilter(method="filter_idol", help_text="Photos with a face labeled with this idol.")

    class Meta(faces_filters.PhotoFilter.Meta):
        fields = [*faces_filters.PhotoFilter.Meta.fields, "idol"]

    def filter_idol(self, queryset: QuerySet[Photo], name: str, value: int) -> QuerySet[Photo]:
        return queryset.filter(pk__in=Face.objects.filter(labels__idol_id=value).values("photo_id"))
