from __future__ import annotations

import base64
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core.api import check_no_nul
from faces.detection import Analysis
from faces.models import Face, Photo, Source


class DetectInputSerializer(serializers.Serializer):
    """Either an uploaded ``image`` (multipart) or a ``url`` to fetch (JSON or form)."""

    image = serializers.FileField(required=False, allow_empty_file=True)
    url = serializers.URLField(required=False, max_length=2000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("image" in attrs) == ("url" in attrs):
            raise serializers.ValidationError(
                gettext("send either an image file (multipart 'image') or a 'url', not both")
            )
        return attrs


class DetectedFaceSerializer(serializers.Serializer):
    box = serializers.ListField(child=serializers.IntegerField())
    score = serializers.FloatField()
    landmarks = serializers.DictField(child=serializers.ListField(child=serializers.FloatField()))
    angle = serializers.FloatField()
    crop = serializers.SerializerMethodField()

    def get_crop(self, face: Any) -> str:
        return base64.b64encode(face.crop).decode("ascii")

    def to_representation(self, face: Any) -> dict[str, Any]:
        data = super().to_representation(face)
        if not self.context.get("crops"):
            data.pop("crop")
        return data


class DetectOutputSerializer(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    detector = serializers.CharField()
    ms = serializers.SerializerMethodField()
    faces = DetectedFaceSerializer(many=True)

    def get_ms(self, analysis: Analysis) -> float:
        return round(analysis.ms, 1)


# --- photos, faces and sources (faces/api.py) -----------------------------------------------


def _media_url(file: Any, context: dict[str, Any]) -> str | None:
    """The file's URL under /media/ (served to signed-in users and token holders), absolute
    when there is a request."""
    if not file:
        return None
    request = context.get("request")
    return request.build_absolute_uri(file.url) if request is not None else file.url


class FaceSerializer(serializers.ModelSerializer):
    """A face: its box in photo pixels ``[x, y, w, h]``, exclusion and crop URL. Apps built on
    faces add their fields in a subclass (labeling.face_serializers: a face's labels)."""

    box = serializers.ListField(child=serializers.IntegerField(), min_length=4, max_length=4, read_only=True)
    landmarks = serializers.DictField(child=serializers.ListField(child=serializers.FloatField()), read_only=True)
    crop = serializers.SerializerMethodField()
    exclusion_reason = serializers.ChoiceField(
        choices=Face.ExclusionReason.choices, allow_blank=True, read_only=True, help_text=_("Empty unless excluded.")
    )

    class Meta:
        model = Face
        fields = [
            "id",
            "photo",
            "box",
            "score",
            "detector",
            "angle",
            "landmarks",
            "excluded",
            "exclusion_reason",
            "excluded_at",
            "crop",
            "created_at",
        ]
        read_only_fields = fields

    def get_crop(self, face: Face) -> str | None:
        return _media_url(face.crop, self.context)


class PhotoSerializer(serializers.ModelSerializer):
    image = serializers.SerializerMethodField()
    thumbnail = serializers.SerializerMethodField()
    face_count = serializers.SerializerMethodField()
    source_url = serializers.CharField(read_only=True, help_text=_("Where it was found; empty for uploads."))

    class Meta:
        model = Photo
        fields = [
            "id",
            "image",
            "thumbnail",
            "width",
            "height",
            "format",
            "file_size",
            "original_name",
            "source",
            "source_url",
            "author",
            "caption",
            "posted_at",
            "status",
            "error",
            "detector",
            "detected_at",
            "created_at",
            "trashed_at",
            "face_count",
        ]
        read_only_fields = fields

    def get_face_count(self, photo: Photo) -> int:
        count = getattr(photo, "face_count", None)
        return count if count is not None else len(photo.faces.all())

    def get_image(self, photo: Photo) -> str | None:
        return _media_url(photo.image, self.context)

    def get_thumbnail(self, photo: Photo) -> str | None:
        return _media_url(photo.thumbnail, self.context)


class PhotoDetailSerializer(PhotoSerializer):
    faces = FaceSerializer(many=True, read_only=True)
    detection_info = serializers.DictField(read_only=True)

    class Meta(PhotoSerializer.Meta):
        fields = [*PhotoSerializer.Meta.fields, "detection_info", "faces"]
        read_only_fields = fields


class PhotoUploadSerializer(serializers.Serializer):
    image = serializers.FileField(help_text=_("The photo (JPEG, PNG, WebP, ...)."), allow_empty_file=True)
    caption = serializers.CharField(required=False, allow_blank=True, max_length=10000, default="")
    author = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    source_url = serializers.URLField(required=False, allow_blank=True, max_length=2000, default="")


class FaceDrawSerializer(serializers.Serializer):
    box = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=1_000_000),
        min_length=4,
        max_length=4,
        help_text=_("[x, y, w, h] in photo pixels."),
    )


# django-q2 keeps a schedule's minutes in a smallint: about 22 days at the most.
MAX_POLL_MINUTES = 32_767


class SourceSerializer(serializers.ModelSerializer):
    options = serializers.DictField(required=False, help_text=_('Kind-specific options, e.g. {"skip_reposts": true}.'))
    poll_interval_minutes = serializers.IntegerField(min_value=1, max_value=MAX_POLL_MINUTES, required=False)

    class Meta:
        model = Source
        fields = [
            "id",
            "kind",
            "name",
            "locator",
            "enabled",
            "poll_interval_minutes",
            "options",
            "last_run_at",
            "last_success_at",
            "last_error",
            "seen_count",
            "new_count",
            "duplicate_count",
            "failed_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "last_run_at",
            "last_success_at",
            "last_error",
            "seen_count",
            "new_count",
            "duplicate_count",
            "failed_count",
            "created_at",
            "updated_at",
        ]

    def validate_options(self, value: dict[str, Any]) -> dict[str, Any]:
        return check_no_nul(value, "options")


class CrawlQueuedSerializer(serializers.Serializer):
    source = serializers.IntegerField()
    queued = serializers.BooleanField()
