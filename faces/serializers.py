from __future__ import annotations

import base64
from typing import Any

from rest_framework import serializers

from faces.detection import Analysis


class DetectInputSerializer(serializers.Serializer):
    """Either an uploaded ``image`` (multipart) or a ``url`` to fetch (JSON or form)."""

    image = serializers.FileField(required=False, allow_empty_file=True)
    url = serializers.URLField(required=False, max_length=2000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("image" in attrs) == ("url" in attrs):
            raise serializers.ValidationError("send either an image file (multipart 'image') or a 'url', not both")
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
