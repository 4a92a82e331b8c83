"""Input and output of the recognizer API."""

from __future__ import annotations

from rest_framework import serializers


class RecognizeInput(serializers.Serializer):
    image = serializers.ImageField(required=False, allow_empty_file=False, use_url=False)
    url = serializers.URLField(required=False, max_length=2000)
    top = serializers.IntegerField(required=False, min_value=1, max_value=20, default=5)

    def to_internal_value(self, data):
        # Pillow validation of DRF's ImageField is replaced by our own decoder (clearer errors).
        self.fields["image"] = serializers.FileField(required=False, allow_empty_file=True)
        return super().to_internal_value(data)

    def validate(self, attrs):
        if bool(attrs.get("image")) == bool(attrs.get("url")):
            raise serializers.ValidationError("send either an image file (image) or its address (url), not both")
        return attrs


class GuessOutput(serializers.Serializer):
    idol_id = serializers.IntegerField()
    name = serializers.CharField()
    probability = serializers.FloatField()


class FaceOutput(serializers.Serializer):
    box = serializers.ListField(child=serializers.IntegerField(), help_text="[x, y, width, height] in pixels")
    unknown = serializers.BooleanField(help_text="True when the best probability is under the threshold")
    best_probability = serializers.FloatField()
    top = GuessOutput(many=True)
