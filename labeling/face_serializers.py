"""faces' API output with each face's labels. faces knows nothing of labels: labeling's API and
the photos endpoint it serves (labeling/api/photos.py) answer with these subclasses."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from faces import serializers as faces_serializers


# The docstring is the schema's description of FaceLabel: kept word for word so the schema does not change.
class FaceLabelSerializer(serializers.Serializer):
    """One label of a face. ``labels`` is labeling.FaceLabel's reverse name: faces reads it by
    name and does not import labeling (dependencies point classifier -> labeling -> faces)."""

    idol = serializers.IntegerField(source="idol_id")
    name = serializers.CharField(source="idol.name")
    how = serializers.CharField()
    idol_deleted = serializers.SerializerMethodField()

    def get_idol_deleted(self, label: Any) -> bool:
        return label.idol.deleted_at is not None


class FaceSerializer(faces_serializers.FaceSerializer):
    """A face: its box in photo pixels ``[x, y, w, h]``, labels, exclusion and crop URL."""

    labels = FaceLabelSerializer(many=True, read_only=True)

    class Meta(faces_serializers.FaceSerializer.Meta):
        fields = [*faces_serializers.FaceSerializer.Meta.fields]
        fields.insert(fields.index("created_at"), "labels")
        read_only_fields = fields


class PhotoDetailSerializer(faces_serializers.PhotoDetailSerializer):
    faces = FaceSerializer(many=True, read_only=True)
