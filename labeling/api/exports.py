"""Dataset exports: start one, follow its progress, download the archive once it is done,
list and delete. Labelers and admins (labeling.roles.can_export); the archive is served here,
to them only, never under a public media URL."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import CursorPage, ErrorSerializer, IdLookupMixin
from core.errors import Conflict
from labeling import roles, services
from labeling.models import DatasetExport
from labeling.serializers import ExportRequestSerializer, ExportSerializer


class ExportViewSet(IdLookupMixin, viewsets.GenericViewSet):
    """Dataset exports, newest first. An export runs in the task queue; poll it until its
    ``status`` is ``done`` (``download`` is then its archive's URL) or ``failed`` (``error``)."""

    queryset = DatasetExport.objects.select_related("requested_by")
    serializer_class = ExportSerializer
    pagination_class = CursorPage
    required = {
        "list": roles.can_export,
        "retrieve": roles.can_export,
        "create": roles.can_export,
        "download": roles.can_export,
        "destroy": roles.can_export,  # and their own, unless admin: see destroy
    }

    def _answer(self, export: DatasetExport) -> dict:
        return ExportSerializer(export, context={"request": self.request}).data

    @extend_schema(summary="Dataset exports, newest first")
    def list(self, request: Request) -> Response:
        services.fail_stale_exports()
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ExportSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(summary="One export with its progress")
    def retrieve(self, request: Request, pk: str) -> Response:
        services.fail_stale_exports()
        return Response(self._answer(self.get_object()))

    @extend_schema(
        summary="Export the labeled faces as a dataset (imagefolder, tfrecord or coco), in the task queue",
        request=ExportRequestSerializer,
        responses={202: ExportSerializer},
    )
    def create(self, request: Request) -> Response:
        data = ExportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        export = services.export_request(user=request.user, **data.validated_data)
        return Response(self._answer(export), status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The export's zip archive, once it is done (409 before)",
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The archive."),
            409: OpenApiResponse(ErrorSerializer, description="Not done yet, or failed."),
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str) -> FileResponse:
        export = self.get_object()
        if export.status != DatasetExport.Status.DONE:
            raise Conflict(
                gettext("Export %(id)s is %(status)s: there is nothing to download yet")
                % {"id": export.pk, "status": export.get_status_display().lower()},
                code=f"export_{export.status}",
            )
        try:
            handle = default_storage.open(export.file.name, "rb")
        except FileNotFoundError:
            raise exceptions.NotFound(gettext("The export's file is missing")) from None
        return FileResponse(handle, as_attachment=True, filename=export.filename, content_type="application/zip")

    @extend_schema(summary="Delete an export and its file (a running one stops)", responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        export = self.get_object()
        if not roles.can_delete_export(request.user, export):
            raise exceptions.PermissionDenied(gettext("Only an admin or who asked for it may delete an export"))
        services.export_delete(export=export)
        return Response(status=status.HTTP_204_NO_CONTENT)
