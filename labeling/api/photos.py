"""faces' photos endpoint with labeling's part: each face's labels, and ``?idol=``. labeling
serves it at /api/photos/ (labeling/api_urls.py) in place of faces' own."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view

from faces import api as faces_api
from labeling.face_filters import PhotoFilter
from labeling.face_serializers import FaceSerializer, PhotoDetailSerializer


# faces' schema names faces' serializers: each answer is named again with labeling's.
@extend_schema_view(
    retrieve=extend_schema(
        summary="A photo with every face: box, labels, exclusion, crop URL", responses=PhotoDetailSerializer
    ),
    create=extend_schema(responses={201: PhotoDetailSerializer}),
    trash=extend_schema(responses=PhotoDetailSerializer),
    restore=extend_schema(responses=PhotoDetailSerializer),
    draw_face=extend_schema(responses={201: FaceSerializer}),
)
class PhotoViewSet(faces_api.PhotoViewSet):
    filterset_class = PhotoFilter
    detail_serializer_class = PhotoDetailSerializer
    face_serializer_class = FaceSerializer
    face_prefetch = ("labels__idol",)
