"""Input and output of labeling's REST API (labeling/api/)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from core.api import MAX_ID, IdField, check_no_nul
from faces.models import Face
from labeling.face_serializers import FaceSerializer
from labeling.models import Idol, IdolAlias, IdolGroup, LabelEvent, Membership

SOFT_DELETE_REASONS = [
    (Idol.DeletionReason.GRADUATED, "Graduated"),
    (Idol.DeletionReason.RETIRED, "Retired"),
    (Idol.DeletionReason.OTHER, "Other"),
]


def face_ids(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=1000, **kwargs
    )


class Handles(serializers.DictField):
    """Accounts by platform: ``{"x": "name", "instagram": "name"}``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.CharField(max_length=200, allow_blank=True), **kwargs)


# --- faces and labels -----------------------------------------------------------------------


class LabelInputSerializer(serializers.Serializer):
    idol = IdField(queryset=Idol.all_objects.all())


class ExcludeInputSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Face.ExclusionReason.choices, default=Face.ExclusionReason.NOT_A_FACE)


class BulkLabelSerializer(serializers.Serializer):
    faces = face_ids(help_text="Face ids (up to 1,000).")
    idol = IdField(queryset=Idol.all_objects.all())


class BulkExcludeSerializer(serializers.Serializer):
    faces = face_ids(help_text="Face ids (up to 1,000).")
    reason = serializers.ChoiceField(choices=Face.ExclusionReason.choices, default=Face.ExclusionReason.NOT_A_FACE)


class BulkFacesSerializer(serializers.Serializer):
    faces = face_ids(help_text="Face ids (up to 1,000).")


class ActionResultSerializer(serializers.Serializer):
    """What a labeling action did: its batch (``POST /api/label-events/undo/`` undoes it) and
    the faces as they are now."""

    batch = serializers.UUIDField(allow_null=True, help_text="Null when the action changed nothing.")
    faces = FaceSerializer(many=True)


# --- idols ----------------------------------------------------------------------------------


class SimilarFaceSerializer(FaceSerializer):
    """A face with its labels and its distance to the face or idol asked about."""

    distance = serializers.FloatField(
        read_only=True, help_text="Euclidean distance between embeddings (dlib: under 0.6 is likely the same person)."
    )

    class Meta(FaceSerializer.Meta):
        fields = [*FaceSerializer.Meta.fields, "distance"]
        read_only_fields = fields

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance.face)
        data["distance"] = round(instance.distance, 4)
        return data


class SimilarResultSerializer(serializers.Serializer):
    embedder = serializers.CharField(help_text="The embedder whose vectors were compared.")
    model_hash = serializers.CharField()
    max_distance = serializers.FloatField(allow_null=True, help_text="Farther faces were left out (null: none).")
    results = SimilarFaceSerializer(many=True, help_text="Nearest first.")


class SimilarFaceQuerySerializer(serializers.Serializer):
    k = serializers.IntegerField(min_value=1, max_value=100, default=10, help_text="How many faces (1-100).")


class IdolSimilarQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50, help_text="How many faces (1-200).")
    unlabeled = serializers.BooleanField(default=False, help_text="Only faces labeled nobody.")


class IdolHitSerializer(serializers.Serializer):
    """An idol in a list or the typeahead: ``matched`` names the alias, handle or group that
    matched when it was not the name."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    reading = serializers.CharField()
    status = serializers.ChoiceField(choices=["active", *Idol.DeletionReason.values])
    matched = serializers.CharField()
    groups = serializers.ListField(child=serializers.CharField(), help_text="Current groups.")
    faces = serializers.IntegerField(help_text="Faces labeled with her.")


class AliasSerializer(serializers.ModelSerializer):
    class Meta:
        model = IdolAlias
        fields = ["name", "kind"]


class MembershipSerializer(serializers.ModelSerializer):
    idol_name = serializers.CharField(source="idol.name", read_only=True)
    group_name = serializers.CharField(source="group.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "idol", "idol_name", "group", "group_name", "joined", "left", "notes"]
        read_only_fields = fields


class IdolSerializer(serializers.Serializer):
    """One idol (from ``labeling.selectors.idol_detail``)."""

    id = serializers.IntegerField(source="idol.pk")
    name = serializers.CharField(source="idol.name")
    reading = serializers.CharField(source="idol.reading")
    handles = serializers.DictField(source="idol.handles", child=serializers.CharField())
    notes = serializers.CharField(source="idol.notes")
    status = serializers.SerializerMethodField()
    deleted_at = serializers.DateTimeField(source="idol.deleted_at", allow_null=True)
    merged_into = serializers.IntegerField(source="idol.merged_into_id", allow_null=True)
    merged_from = serializers.SerializerMethodField()
    aliases = AliasSerializer(source="idol.aliases.all", many=True)
    memberships = MembershipSerializer(source="idol.memberships.all", many=True)
    faces = serializers.IntegerField(help_text="Faces labeled with her.")
    by_how = serializers.DictField(child=serializers.IntegerField(), help_text="Labels by origin.")
    created_at = serializers.DateTimeField(source="idol.created_at")
    updated_at = serializers.DateTimeField(source="idol.updated_at")

    def get_status(self, summary: Any) -> str:
        return summary.idol.deletion_reason or "active"

    def get_merged_from(self, summary: Any) -> list[int]:
        return [idol.pk for idol in summary.merged_from]


class IdolCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    reading = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    aliases = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    handles = Handles(required=False, default=dict)
    notes = serializers.CharField(max_length=10000, required=False, allow_blank=True, default="")
    group = IdField(queryset=IdolGroup.objects.all(), required=False, allow_null=True, default=None)
    joined = serializers.DateField(required=False, allow_null=True, default=None)
    same_name_ok = serializers.BooleanField(
        required=False,
        default=False,
        help_text="She is another person with the name of an existing idol: without it such a name is "
        "refused (400 duplicate_idol, with the existing idol's id).",
    )

    def validate_handles(self, value: dict[str, Any]) -> dict[str, Any]:
        return check_no_nul(value, "handles")


class IdolUpdateSerializer(serializers.Serializer):
    """Every field optional: only those sent change. ``aliases`` replaces the list."""

    reading = serializers.CharField(max_length=200, required=False, allow_blank=True)
    handles = Handles(required=False)
    notes = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    aliases = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=200)

    def validate_handles(self, value: dict[str, Any]) -> dict[str, Any]:
        return check_no_nul(value, "handles")


class GraduateSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(
        choices=SOFT_DELETE_REASONS,
        default=Idol.DeletionReason.GRADUATED,
        help_text="graduated or retired: still recognized and suggested (marked so); other (e.g. created by "
        "mistake): out of training and suggestions",
    )


class RenameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    reading = serializers.CharField(max_length=200, required=False, allow_blank=True)
    same_name_ok = serializers.BooleanField(
        required=False,
        default=False,
        help_text="She and the idol who has that name are two people: without it the rename is refused "
        "(400 duplicate_idol, with the existing idol's id and the merge to make instead).",
    )


class MergeSerializer(serializers.Serializer):
    into = IdField(queryset=Idol.all_objects.all(), help_text="The idol who stays; this one joins her.")


# --- groups and memberships -----------------------------------------------------------------


class GroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = IdolGroup
        fields = ["id", "name", "reading", "notes", "created_at"]
        read_only_fields = fields


class GroupWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    reading = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=10000, required=False, allow_blank=True)


class MembershipCreateSerializer(serializers.Serializer):
    idol = IdField(queryset=Idol.all_objects.all())
    group = IdField(queryset=IdolGroup.objects.all())
    joined = serializers.DateField(required=False, allow_null=True, default=None)
    left = serializers.DateField(required=False, allow_null=True, default=None)
    notes = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class MembershipUpdateSerializer(serializers.Serializer):
    joined = serializers.DateField(required=False, allow_null=True)
    left = serializers.DateField(required=False, allow_null=True, help_text="A date ends the membership.")
    notes = serializers.CharField(max_length=500, required=False, allow_blank=True)


# --- the label history ----------------------------------------------------------------------


class LabelEventSerializer(serializers.ModelSerializer):
    username = serializers.SerializerMethodField()
    exclusion_reason = serializers.ChoiceField(choices=Face.ExclusionReason.choices, allow_blank=True, read_only=True)

    class Meta:
        model = LabelEvent
        fields = [
            "id",
            "batch",
            "face",
            "idol",
            "action",
            "how",
            "exclusion_reason",
            "user",
            "username",
            "undoes",
            "note",
            "created_at",
        ]
        read_only_fields = fields

    def get_username(self, event: LabelEvent) -> str:
        return event.user.get_username() if event.user else ""


class UndoSerializer(serializers.Serializer):
    batch = serializers.UUIDField(help_text="The batch of the action to undo.")


# --- dataset exports ------------------------------------------------------------------------


class ExportRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["coco", "imagefolder", "tfrecord"])
    idols = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=1000,
        help_text="Only these idols, by id or name (default: every idol with labeled faces).",
    )
    min_faces = serializers.IntegerField(
        required=False, default=1, min_value=1, max_value=1_000_000, help_text="Leave out idols with fewer faces."
    )
    split = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Training fraction, between 0 and 1 (each idol's faces split train/val); not for coco.",
    )
    seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=2**31 - 1)
    shard_size = serializers.IntegerField(
        required=False, min_value=1, max_value=100_000, help_text="tfrecord: faces per shard (default 1000)."
    )
    copy_images = serializers.BooleanField(
        required=False, default=False, help_text="coco: put the original photos in the archive."
    )


class ExportSerializer(serializers.Serializer):
    """An export and its progress (``progress`` is 0..1); ``download`` is set once it is done."""

    id = serializers.IntegerField()
    format = serializers.CharField()
    options = serializers.DictField()
    status = serializers.ChoiceField(choices=["queued", "running", "done", "failed"])
    done = serializers.IntegerField(help_text="Faces written so far.")
    total = serializers.IntegerField(help_text="Faces to write (0 until counted).")
    progress = serializers.FloatField()
    error = serializers.CharField()
    size = serializers.IntegerField(help_text="Size of the archive in bytes.")
    filename = serializers.CharField()
    requested_by = serializers.SerializerMethodField()
    download = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_requested_by(self, obj: Any) -> str | None:
        return obj.requested_by.get_username() if obj.requested_by_id else None

    def get_download(self, obj: Any) -> str | None:
        if obj.status != "done":
            return None
        url = reverse("api:datasetexport-download", args=[obj.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url
