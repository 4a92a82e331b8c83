"""The JSON face-detection API of the talk: ``POST /api/detect/`` for scripts and bots."""

from __future__ import annotations

from django.conf import settings
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from faces.detection import analyze_bytes
from faces.errors import DomainError, InvalidImage
from faces.http import Fetcher, FetchError
from faces.serializers import DetectInputSerializer, DetectOutputSerializer

# Multipart framing around the file: a request longer than the limit plus this is refused unread.
_FORM_OVERHEAD = 64 * 1024


class DetectView(APIView):
    """Find the faces in an image: multipart ``image`` or JSON ``{"url": ...}``.

    Answers ``{"width", "height", "detector", "ms", "faces": [{"box": [x, y, w, h], "score",
    "landmarks", "angle"}]}``; ``?crops=1`` adds each aligned crop as base64 JPEG (``crop``).
    Nothing is stored."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_classes = [UserRateThrottle, ScopedRateThrottle]
    throttle_scope = "detect"

    def post(self, request: Request) -> Response:
        max_bytes = settings.IDOLSITE_API_MAX_IMAGE_BYTES
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > max_bytes + _FORM_OVERHEAD:
            raise InvalidImage(f"the request is too large: {int(length):,} bytes (the limit is {max_bytes:,})")
        serializer = DetectInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if "url" in serializer.validated_data:
            data = fetch(serializer.validated_data["url"], max_bytes=max_bytes)
        else:
            upload = serializer.validated_data["image"]
            if upload.size > max_bytes:
                raise InvalidImage(f"the file is too large: {upload.size:,} bytes (the limit is {max_bytes:,})")
            data = upload.read()
        crops = request.query_params.get("crops", "") in ("1", "true", "yes")
        analysis = analyze_bytes(data, max_bytes=max_bytes, crops=crops)
        return Response(DetectOutputSerializer(analysis, context={"crops": crops}).data)


def fetch(url: str, *, max_bytes: int) -> bytes:
    """The image at a caller's URL through faces.http (SSRF guard on every hop, timeouts, size
    cap while streaming); no retries: the caller is waiting and may retry."""
    try:
        return Fetcher(max_bytes=max_bytes, retries=0).get_image(url).body
    except FetchError as exc:
        raise DomainError(f"the URL cannot be used: {exc}", code="fetch_failed", field="url") from None
