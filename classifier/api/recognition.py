"""``POST /api/recognize/``: who is on this image? For a "who is this?" bot."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from classifier import recognition
from classifier.models import ModelVersion
from classifier.serializers import (
    FaceOutput,
    RecognizeInput,
    RecognizeOutput,
)
from core.api import error_body
from core.parsers import JSONParser
from labeling import roles


class RecognizeView(APIView):
    """Send an image (multipart field ``image``) or its address (``url``). Answers each face's
    box and its top idols with probabilities; ``unknown`` when the best is under the threshold.
    409 when no model is active yet, 400 for a bad image or URL."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_classes = [UserRateThrottle, ScopedRateThrottle]
    throttle_scope = "recognize"
    required = {"post": roles.can_view}

    @extend_schema(
        summary="Who is in this image? Each face with its top idols",
        request={"multipart/form-data": RecognizeInput, "application/json": RecognizeInput},
        responses={200: RecognizeOutput},
    )
    def post(self, request: Request) -> Response:
        given = RecognizeInput(data=request.data)
        given.is_valid(raise_exception=True)
        version = ModelVersion.objects.active()
        if version is None:
            return _no_model("no active model: train one first (manage.py train)")
        try:
            if given.validated_data.get("url"):
                data = recognition.fetch_image(given.validated_data["url"])
            else:
                data = given.validated_data["image"].read()
            faces = recognition.recognize(data, top=given.validated_data["top"])
        except recognition.NoActiveModel as exc:
            return _no_model(str(exc))
        return Response(
            {
                "model": {
                    "id": version.pk,
                    "kind": version.kind,
                    "val_top1": version.val_top1,
                    "created_at": version.created_at,
                },
                "threshold": settings.IDOLSITE_UNKNOWN_THRESHOLD,
                "faces": FaceOutput(faces, many=True).data,
            }
        )


def _no_model(message: str) -> Response:
    return Response(error_body("no_model", message), status=status.HTTP_409_CONFLICT)
