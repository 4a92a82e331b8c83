"""The dataset exports in the admin: the idols' action that starts one (an intermediate form)
and the exports' own pages, read-only, with the download link."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from labeling import services
from labeling.forms import ExportForm
from labeling.models import DatasetExport


@admin.action(description=_("Export these idols' faces as a dataset"), permissions=["export"])
def export_dataset(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
    idols = list(queryset.order_by("name", "id"))
    form = ExportForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        try:
            export = services.export_request(
                idols=[str(idol.pk) for idol in idols], user=request.user, **form.cleaned_data
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            model_admin.message_user(
                request,
                gettext("Export %(id)s is queued; its page shows the progress and the download.") % {"id": export.pk},
                messages.SUCCESS,
            )
            return redirect("admin:labeling_datasetexport_change", export.pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("Export idols' faces as a dataset"),
        "idols": idols,
        "form": form,
        "opts": model_admin.model._meta,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/labeling/idol/export.html", context)


@admin.register(DatasetExport)
class DatasetExportAdmin(admin.ModelAdmin):
    """Exports are written by the task queue: their rows are read here, never edited; deleting
    one deletes its file."""

    list_display = ["id", "format", "status", "progress_shown", "requested_by", "created_at", "finished_at", "download"]
    list_filter = ["status", "format"]
    list_select_related = ["requested_by"]
    fields = [
        "format",
        "options",
        "status",
        "progress_shown",
        "error",
        "download",
        "size",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # from the idols' action or the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        services.fail_stale_exports()
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("progress"))
    def progress_shown(self, obj: DatasetExport) -> str:
        if obj.total:
            return f"{obj.done:,} / {obj.total:,} ({obj.progress:.0%})"
        return "-"

    @admin.display(description=_("download"))
    def download(self, obj: DatasetExport) -> str:
        if obj.status != DatasetExport.Status.DONE:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("api:datasetexport-download", args=[obj.pk]), obj.filename)

    def delete_model(self, request: HttpRequest, obj: DatasetExport) -> None:
        services.export_delete(export=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for export in queryset:
            services.export_delete(export=export)
