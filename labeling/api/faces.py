"""Faces and their labels: the grid's list (keyset pagination), one face, label and unlabel,
exclude and include, each for one face or in bulk. Every action answers its batch, which
``POST /api/label-events/undo/`` undoes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from core.api import IdLookupMixin, object_or_404
from core.errors import NotFound
from faces.models import Face
from faces.selectors import current_model
from labeling import roles, selectors, services
from labeling.face_serializers import FaceSerializer
from labeling.filters import FaceGridFilter
from labeling.models import Idol
from labeling.serializers import (
    ActionResultSerializer,
    BulkExcludeSerializer,
    BulkFacesSerializer,
    BulkLabelSerializer,
    ExcludeInputSerializer,
    LabelInputSerializer,
    SimilarFaceQuerySerializer,
    SimilarResultSerializer,
)


class GridCursorPage(BasePagination):
    """The grid's keyset pagination (``labeling.selectors.face_grid``) in the API's page shape:
    ``{"next", "previous", "results"}``; ``next`` carries the cursor. Forward only."""

    page_size = selectors.DEFAULT_PAGE_SIZE
    max_page_size = selectors.MAX_PAGE_SIZE

    def paginate_grid(self, *, filters: selectors.GridFilters, request: Request) -> list[Face]:
        size = request.query_params.get("size")
        if size is not None and not (size.isdigit() and 1 <= int(size) <= self.max_page_size):
            message = gettext("a whole number from 1 to %(max)s") % {"max": self.max_page_size}
            raise serializers.ValidationError({"size": [message]})
        cursor = request.query_params.get("cursor") or None
        if cursor is not None and len(cursor) > 64:
            raise serializers.ValidationError({"cursor": [gettext("invalid cursor")]})
        try:
            page = selectors.face_grid(filters=filters, cursor=cursor, size=int(size or self.page_size))
        except selectors.BadCursor:
            raise serializers.ValidationError({"cursor": [gettext("invalid cursor")]}) from None
        url = request.build_absolute_uri()
        self.next = replace_query_param(url, "cursor", page.next_cursor) if page.next_cursor else None
        return page.faces

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"next": self.next, "previous": None, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {"name": "cursor", "required": False, "in": "query", "schema": {"type": "string"}},
            {
                "name": "size",
                "required": False,
                "in": "query",
                "description": f"Faces per page (1-{self.max_page_size}, default {self.page_size}).",
                "schema": {"type": "integer"},
            },
        ]


def similar_answer(
    found: list[selectors.SimilarFace], *, max_distance: float | None, context: dict[str, Any]
) -> dict[str, Any]:
    embedder, model_hash = current_model()
    body = {"embedder": embedder, "model_hash": model_hash, "max_distance": max_distance, "results": found}
    return SimilarResultSerializer(body, context=context).data


def _faces(ids: list[int]) -> list[Face]:
    faces = Face.objects.in_bulk(ids)
    missing = sorted(set(ids) - set(faces))
    if missing:
        raise NotFound(gettext("faces not found: %(ids)s") % {"ids": missing[:20]}, field="faces")
    return [faces[pk] for pk in dict.fromkeys(ids)]


class FaceViewSet(IdLookupMixin, viewsets.GenericViewSet):
    """Faces: viewers read, labelers label, unlabel, exclude and include."""

    queryset = Face.objects.all()
    serializer_class = FaceSerializer
    pagination_class = GridCursorPage
    filterset_class = FaceGridFilter
    required = {
        "list": roles.can_view,
        "retrieve": roles.can_view,
        "similar": roles.can_view,
        "labels": roles.can_label,
        "unlabel": roles.can_label,
        "exclude": roles.can_label,
        "include": roles.can_label,
        "bulk_label": roles.can_label,
        "bulk_unlabel": roles.can_label,
        "bulk_exclude": roles.can_label,
        "bulk_include": roles.can_label,
    }

    def _result(self, batch: uuid.UUID | None, face_ids: list[int], code: int = status.HTTP_200_OK) -> Response:
        faces = selectors.faces_with_labels(face_ids)
        body = {"batch": batch, "faces": faces}
        return Response(ActionResultSerializer(body, context=self.get_serializer_context()).data, status=code)

    def _bulk(
        self,
        request: Request,
        input_class: type[serializers.Serializer],
        apply: Callable[[list[Face], dict[str, Any]], uuid.UUID | None],
    ) -> Response:
        """A bulk action: validate the body, find every face, ``apply`` the service to all of
        them (it answers the batch) and answer the faces as they are now."""
        data = input_class(data=request.data)
        data.is_valid(raise_exception=True)
        faces = _faces(data.validated_data["faces"])
        batch = apply(faces, data.validated_data)
        return self._result(batch, [f.pk for f in faces])

    @extend_schema(summary="Faces with the grid's filters and sorts (keyset pagination)")
    def list(self, request: Request) -> Response:
        filterset = FaceGridFilter(request.query_params, queryset=Face.objects.none(), request=request)
        if not filterset.is_valid():
            raise serializers.ValidationError(filterset.errors)
        faces = self.paginator.paginate_grid(filters=filterset.grid_filters(), request=request)
        return self.get_paginated_response(FaceSerializer(faces, many=True, context=self.get_serializer_context()).data)

    @extend_schema(summary="One face: box, labels, exclusion, crop URL")
    def retrieve(self, request: Request, pk: str) -> Response:
        face = object_or_404(Face.objects.prefetch_related("labels__idol"), pk)
        return Response(FaceSerializer(face, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Similar faces: the k faces nearest to this one by embedding",
        parameters=[SimilarFaceQuerySerializer],
        responses={200: SimilarResultSerializer},
        description="Visible faces (not excluded, photo not trashed), nearest first, each with its "
        "Euclidean distance between the current embedder's vectors. 409 `no_embeddings` when this "
        "face has no vector yet.",
    )
    @action(detail=True, methods=["get"])
    def similar(self, request: Request, pk: str) -> Response:
        face = self.get_object()
        query = SimilarFaceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = selectors.face_similar(face=face, k=query.validated_data["k"])
        return Response(similar_answer(found, max_distance=None, context=self.get_serializer_context()))

    @extend_schema(
        summary="Label the face with an idol",
        request=LabelInputSerializer,
        responses={201: ActionResultSerializer, 200: ActionResultSerializer},
        description="201 with the action's batch. A face that has the label already: 200 with "
        "`batch` null (nothing changed, nothing to undo). 409: the face is excluded, on a trashed "
        "photo, or the idol was merged.",
    )
    @action(detail=True, methods=["post"])
    def labels(self, request: Request, pk: str) -> Response:
        face = self.get_object()
        data = LabelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        batch = uuid.uuid4()
        services.face_label(face=face, idol=data.validated_data["idol"], user=request.user, batch=batch)
        if not selectors.batch_recorded(batch):
            return self._result(None, [face.pk])
        return self._result(batch, [face.pk], status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove an idol's label from the face",
        request=None,
        responses={200: ActionResultSerializer},
        description="409 `not_labeled` when the face does not carry that label.",
    )
    @action(detail=True, methods=["delete"], url_path=r"labels/(?P<idol_id>[0-9]+)", url_name="unlabel")
    def unlabel(self, request: Request, pk: str, idol_id: str) -> Response:
        face = self.get_object()
        idol = object_or_404(Idol.all_objects, idol_id)
        batch = uuid.uuid4()
        services.face_unlabel(face=face, idol=idol, user=request.user, batch=batch)
        return self._result(batch, [face.pk])

    @extend_schema(
        summary="Exclude the face (not a face, someone else, a bad crop); its labels go",
        request=ExcludeInputSerializer,
        responses={200: ActionResultSerializer},
    )
    @action(detail=True, methods=["post"])
    def exclude(self, request: Request, pk: str) -> Response:
        face = self.get_object()
        data = ExcludeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        batch = uuid.uuid4()
        services.face_exclude(face=face, reason=data.validated_data["reason"], user=request.user, batch=batch)
        return self._result(batch, [face.pk])

    @extend_schema(summary="Include an excluded face again", request=None, responses={200: ActionResultSerializer})
    @action(detail=True, methods=["post"])
    def include(self, request: Request, pk: str) -> Response:
        face = self.get_object()
        batch = uuid.uuid4()
        services.face_include(face=face, user=request.user, batch=batch)
        return self._result(batch, [face.pk])

    @extend_schema(
        summary="Label many faces with one idol (one batch)",
        request=BulkLabelSerializer,
        responses={200: ActionResultSerializer},
        description="The batch holds the faces that did not have the label yet; `batch` is null "
        "when every face had it already (nothing changed).",
    )
    @action(detail=False, methods=["post"], url_path="bulk/label", url_name="bulk-label")
    def bulk_label(self, request: Request) -> Response:
        def apply(faces: list[Face], data: dict[str, Any]) -> uuid.UUID | None:
            batch = uuid.uuid4()
            services.faces_label(faces=faces, idol=data["idol"], user=request.user, batch=batch)
            return batch if selectors.batch_recorded(batch) else None

        return self._bulk(request, BulkLabelSerializer, apply)

    @extend_schema(
        summary="Remove one idol's label from many faces (one batch)",
        request=BulkLabelSerializer,
        responses={200: ActionResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="bulk/unlabel", url_name="bulk-unlabel")
    def bulk_unlabel(self, request: Request) -> Response:
        return self._bulk(
            request,
            BulkLabelSerializer,
            lambda faces, data: services.faces_unlabel(faces=faces, idol=data["idol"], user=request.user),
        )

    @extend_schema(
        summary="Exclude many faces (one batch)", request=BulkExcludeSerializer, responses={200: ActionResultSerializer}
    )
    @action(detail=False, methods=["post"], url_path="bulk/exclude", url_name="bulk-exclude")
    def bulk_exclude(self, request: Request) -> Response:
        return self._bulk(
            request,
            BulkExcludeSerializer,
            lambda faces, data: services.faces_exclude(faces=faces, reason=data["reason"], user=request.user),
        )

    @extend_schema(
        summary="Include many excluded faces (one batch)",
        request=BulkFacesSerializer,
        responses={200: ActionResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="bulk/include", url_name="bulk-include")
    def bulk_include(self, request: Request) -> Response:
        return self._bulk(
            request, BulkFacesSerializer, lambda faces, data: services.faces_include(faces=faces, user=request.user)
        )
