"""The label history: every change to a face's labels or exclusion, newest first, and undo.

Undo: labelers undo their own actions only; admins (``roles.can_manage_idols``) undo anyone's,
as the admin's "Undo these actions" does."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import CursorPage, IdLookupMixin
from labeling import roles, selectors, services
from labeling.filters import LabelEventFilter
from labeling.models import LabelEvent
from labeling.serializers import ActionResultSerializer, LabelEventSerializer, UndoSerializer


class LabelEventViewSet(IdLookupMixin, viewsets.GenericViewSet):
    queryset = LabelEvent.objects.select_related("user")
    serializer_class = LabelEventSerializer
    pagination_class = CursorPage
    filterset_class = LabelEventFilter
    required = {"list": roles.can_view, "retrieve": roles.can_view, "undo": roles.can_label}

    @extend_schema(summary="Label events, newest first")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(LabelEventSerializer(page, many=True).data)

    @extend_schema(summary="One label event")
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(LabelEventSerializer(self.get_object()).data)

    @extend_schema(
        summary="Undo one action (every event of its batch)",
        request=UndoSerializer,
        responses=ActionResultSerializer,
        description="Labelers undo their own actions (403 `forbidden` otherwise), admins anyone's. "
        "Answers the undo's own batch. 404 `not_found`: no such batch; 409 `already_undone`, "
        "`conflict` (the face changed since), `not_undoable` (re-detection).",
    )
    @action(detail=False, methods=["post"])
    def undo(self, request: Request) -> Response:
        data = UndoSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        batch = data.validated_data["batch"]
        undo_batch = services.label_batch_undo(
            batch=batch, user=request.user, own_only=not roles.can_manage_idols(request.user)
        )
        face_ids = list(dict.fromkeys(LabelEvent.objects.filter(batch=batch).values_list("face_id", flat=True)))
        faces = selectors.faces_with_labels(face_ids)
        body = {"batch": undo_batch, "faces": faces}
        return Response(ActionResultSerializer(body, context=self.get_serializer_context()).data)
