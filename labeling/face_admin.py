"""faces' photo admin with labeling's part: each face's labels in the photo's face list.

Registered in place of faces' own (the usual way to extend another app's admin), when
labeling/admin.py imports this module."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from faces import admin as faces_admin
from faces.models import Face, Photo


class FaceInline(faces_admin.FaceInline):
    fields = [*faces_admin.FaceInline.fields, "label_names"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("labels__idol")

    @admin.display(description=_("labels"))
    def label_names(self, obj: Face) -> str:
        return ", ".join(label.idol.name for label in obj.labels.all()) or "-"


class PhotoAdmin(faces_admin.PhotoAdmin):
    inlines = [FaceInline, faces_admin.SightingInline]

    @admin.action(description=_("Detect faces again (labels are carried over)"))
    def detect_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        super().detect_again(request, queryset)


admin.site.unregister(Photo)
admin.site.register(Photo, PhotoAdmin)
