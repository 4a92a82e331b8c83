"""Training runs (start, progress, cancel) and model versions (list, activate) under /api/."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from classifier import services
from classifier.models import ModelVersion, TrainingRun
from classifier.serializers import ModelVersionSerializer, TrainingRequestSerializer, TrainingRunSerializer
from core.api import CursorPage, IdLookupMixin
from labeling import roles


class TrainingRunViewSet(IdLookupMixin, viewsets.GenericViewSet):
    """Training runs, newest first. Starting one while one is queued or running answers that
    run (one training at a time)."""

    queryset = TrainingRun.objects.all()
    serializer_class = TrainingRunSerializer
    pagination_class = CursorPage
    required = {
        "list": roles.can_view,
        "retrieve": roles.can_view,
        "create": roles.can_manage_idols,
        "cancel": roles.can_manage_idols,
    }

    @extend_schema(summary="Training runs, newest first")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(TrainingRunSerializer(page, many=True).data)

    @extend_schema(summary="One run with its progress (epoch, step, loss, validation accuracy, ETA)")
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(TrainingRunSerializer(self.get_object()).data)

    @extend_schema(
        summary="Start a training on the training cluster",
        request=TrainingRequestSerializer,
        responses={202: TrainingRunSerializer},
    )
    def create(self, request: Request) -> Response:
        data = TrainingRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.training_request(reason="api", user=request.user, **data.validated_data)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Cancel a queued or running training", request=None, responses=TrainingRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        run = services.training_cancel(run=self.get_object(), user=request.user)
        return Response(TrainingRunSerializer(run).data)


class ModelVersionViewSet(IdLookupMixin, viewsets.GenericViewSet):
    """Trained models, newest first; the active one answers recognitions and suggestions."""

    queryset = ModelVersion.objects.all()
    serializer_class = ModelVersionSerializer
    pagination_class = CursorPage
    required = {
        "list": roles.can_view,
        "retrieve": roles.can_view,
        "activate": roles.can_manage_idols,
    }

    @extend_schema(summary="Model versions, newest first")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ModelVersionSerializer(page, many=True).data)

    @extend_schema(summary="One model version with its metrics")
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(ModelVersionSerializer(self.get_object()).data)

    @extend_schema(
        summary="Make this version the active model, pinned (new models do not replace it)",
        request=None,
        responses=ModelVersionSerializer,
    )
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str) -> Response:
        version = services.model_version_activate(version=self.get_object(), user=request.user)
        return Response(ModelVersionSerializer(version).data)
