"""The REST API of faces: photos (list, upload, detail with faces, trash, restore, a face drawn
by hand), sources (CRUD, crawl now) and ``POST /api/detect/``.

Roles are Django model permissions here (``faces.change_photo``, ...), which labeling.roles'
groups carry: faces does not import labeling."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from core.api import CursorPage, IdLookupMixin
from core.errors import DomainError, InvalidImage
from core.parsers import JSONParser
from faces import services
from faces.detection import analyze_bytes
from faces.filters import PhotoFilter, SourceFilter
from faces.http import Fetcher, FetchError
from faces.images import file_too_large
from faces.models import Photo, Source
from faces.serializers import (
    CrawlQueuedSerializer,
    DetectInputSerializer,
    DetectOutputSerializer,
    FaceDrawSerializer,
    FaceSerializer,
    PhotoDetailSerializer,
    PhotoSerializer,
    PhotoUploadSerializer,
    SourceSerializer,
)

# Multipart framing around the file: a request longer than the limit plus this is refused unread.
_FORM_OVERHEAD = 64 * 1024

VIEW_PHOTO = "faces.view_photo"


# --- photos ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Photos, newest first (the trash only with trashed=1)"),
    retrieve=extend_schema(summary="A photo with every face: box, exclusion, crop URL"),
)
class PhotoViewSet(IdLookupMixin, viewsets.GenericViewSet):
    """Photos. Upload (labelers) stores the photo and queues it for detection; trash and
    restore (admins) keep a tombstone so no crawl brings a trashed photo back."""

    # Apps built on faces serve a subclass that adds their part of a face (labeling.api.photos:
    # its labels): the serializers of a photo's detail and of one face, and what they prefetch.
    detail_serializer_class: type[PhotoDetailSerializer] = PhotoDetailSerializer
    face_serializer_class: type[FaceSerializer] = FaceSerializer
    face_prefetch: tuple[str, ...] = ()

    queryset = Photo.all_objects.all()
    serializer_class = PhotoSerializer
    pagination_class = CursorPage
    filterset_class = PhotoFilter
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    throttle_scope = "upload"
    required = {
        "list": VIEW_PHOTO,
        "retrieve": VIEW_PHOTO,
        "create": "faces.add_photo",
        "trash": "faces.change_photo",
        "restore": "faces.change_photo",
        "draw_face": "faces.add_face",
    }

    def get_throttles(self) -> list[Any]:
        throttles = super().get_throttles()
        if self.action == "create":  # uploads only: reading is not limited by this scope
            throttles.append(ScopedRateThrottle())
        return throttles

    def _detail(self, photo: Photo, code: int = status.HTTP_200_OK) -> Response:
        photo = Photo.all_objects.with_faces(*self.face_prefetch).get(pk=photo.pk)
        return Response(self.detail_serializer_class(photo, context=self.get_serializer_context()).data, status=code)

    def list(self, request: Request) -> Response:
        photos = self.filter_queryset(Photo.all_objects.select_related("source").annotate(face_count=Count("faces")))
        page = self.paginate_queryset(photos)
        return self.get_paginated_response(PhotoSerializer(page, many=True, context=self.get_serializer_context()).data)

    @extend_schema(responses=PhotoDetailSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return self._detail(self.get_object())

    @extend_schema(
        summary="Upload a photo: stored, then queued for detection",
        request={"multipart/form-data": PhotoUploadSerializer},
        responses={201: PhotoDetailSerializer},
        description="409 `duplicate` (with `existing`, the stored photo's id) or `trashed_before`; "
        "400 `invalid_image`. Throttled (scope `upload`).",
    )
    def create(self, request: Request) -> Response:
        max_bytes = settings.IDOLSITE_MAX_IMAGE_BYTES
        _refuse_large_request(request, max_bytes)
        data = PhotoUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["image"]
        if upload.size > max_bytes:
            raise InvalidImage(file_too_large(upload.size, max_bytes))
        photo = services.photo_create(
            data=upload.read(),
            original_name=upload.name or "",
            caption=data.validated_data["caption"],
            author=data.validated_data["author"],
            source_url=data.validated_data["source_url"],
        )
        return self._detail(photo, status.HTTP_201_CREATED)

    @extend_schema(summary="Move a photo to the trash", request=None, responses=PhotoDetailSerializer)
    @action(detail=True, methods=["post"])
    def trash(self, request: Request, pk: str) -> Response:
        photo = services.photo_trash(photo=self.get_object(), user=request.user)
        return self._detail(photo)

    @extend_schema(summary="Take a photo out of the trash", request=None, responses=PhotoDetailSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str) -> Response:
        photo = services.photo_restore(photo=self.get_object(), user=request.user)
        return self._detail(photo)

    @extend_schema(
        summary="A face the detector missed, boxed by hand", request=FaceDrawSerializer, responses={201: FaceSerializer}
    )
    @action(detail=True, methods=["post"], url_path="faces", url_name="faces")
    def draw_face(self, request: Request, pk: str) -> Response:
        photo = self.get_object()
        data = FaceDrawSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        face = services.face_add_manual(photo=photo, box=data.validated_data["box"], user=request.user)
        return Response(
            self.face_serializer_class(face, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )


# --- sources --------------------------------------------------------------------------------


class SourceViewSet(
    IdLookupMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Where photos come from (plain CRUD, admins); ``crawl`` queues a crawl now."""

    queryset = Source.objects.all()
    serializer_class = SourceSerializer
    pagination_class = CursorPage
    filterset_class = SourceFilter
    required = {
        "list": "faces.view_source",
        "retrieve": "faces.view_source",
        "create": "faces.add_source",
        "update": "faces.change_source",
        "partial_update": "faces.change_source",
        "destroy": "faces.delete_source",
        "crawl": "faces.change_source",
    }

    def perform_create(self, serializer: Any) -> None:
        with transaction.atomic():  # the source and its schedule, or neither
            serializer.save()

    def perform_update(self, serializer: Any) -> None:
        with transaction.atomic():
            serializer.save()

    @extend_schema(
        summary="Crawl the source now (queued)",
        request=None,
        responses={202: CrawlQueuedSerializer},
        description="409 `source_disabled` for a disabled source.",
    )
    @action(detail=True, methods=["post"])
    def crawl(self, request: Request, pk: str) -> Response:
        source = self.get_object()
        services.source_crawl_enqueue(source=source)
        return Response({"source": source.pk, "queued": True}, status=status.HTTP_202_ACCEPTED)


# --- detection ------------------------------------------------------------------------------


class DetectView(APIView):
    """Find the faces in an image: multipart ``image`` or JSON ``{"url": ...}``.

    Answers ``{"width", "height", "detector", "ms", "faces": [{"box": [x, y, w, h], "score",
    "landmarks", "angle"}]}``; ``?crops=1`` adds each aligned crop as base64 JPEG (``crop``).
    Nothing is stored."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_classes = [UserRateThrottle, ScopedRateThrottle]
    throttle_scope = "detect"
    required = {"post": VIEW_PHOTO}

    @extend_schema(
        summary="Find the faces in an image (nothing is stored)",
        request={"multipart/form-data": DetectInputSerializer, "application/json": DetectInputSerializer},
        responses={200: DetectOutputSerializer},
        parameters=[OpenApiParameter("crops", OpenApiTypes.BOOL, description="1: add each crop as base64 JPEG")],
    )
    def post(self, request: Request) -> Response:
        max_bytes = settings.IDOLSITE_API_MAX_IMAGE_BYTES
        _refuse_large_request(request, max_bytes)
        serializer = DetectInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if "url" in serializer.validated_data:
            data = fetch(serializer.validated_data["url"], max_bytes=max_bytes)
        else:
            upload = serializer.validated_data["image"]
            if upload.size > max_bytes:
                raise InvalidImage(file_too_large(upload.size, max_bytes))
            data = upload.read()
        crops = request.query_params.get("crops", "") in ("1", "true", "yes")
        analysis = analyze_bytes(data, max_bytes=max_bytes, crops=crops)
        return Response(DetectOutputSerializer(analysis, context={"crops": crops}).data)


def _refuse_large_request(request: Request, max_bytes: int) -> None:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > max_bytes + _FORM_OVERHEAD:
        raise InvalidImage(
            gettext("the request is too large: %(size)s bytes (the limit is %(limit)s)")
            % {"size": f"{int(length):,}", "limit": f"{max_bytes:,}"}
        )


def fetch(url: str, *, max_bytes: int) -> bytes:
    """The image at a caller's URL through faces.http (SSRF guard on every hop, timeouts, size
    cap while streaming); no retries: the caller is waiting and may retry."""
    try:
        return Fetcher(max_bytes=max_bytes, retries=0).get_image(url).body
    except FetchError as exc:
        raise DomainError(
            gettext("the URL cannot be used: %(error)s") % {"error": exc}, code="fetch_failed", field="url"
        ) from None
