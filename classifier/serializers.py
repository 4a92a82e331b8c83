"""Input and output of the recognizer API."""

from __future__ import annotations

from django.utils.translation import gettext
from rest_framework import serializers

from core.api import MAX_ID


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
            raise serializers.ValidationError(
                gettext("send either an image file (image) or its address (url), not both")
            )
        return attrs


IDOL_STATUS_HELP = '"active", or "graduated" / "retired": she left and is still recognized'


class GuessOutput(serializers.Serializer):
    idol_id = serializers.IntegerField()
    name = serializers.CharField()
    probability = serializers.FloatField()
    idol_status = serializers.CharField(help_text=IDOL_STATUS_HELP)


class FaceOutput(serializers.Serializer):
    box = serializers.ListField(child=serializers.IntegerField(), help_text="[x, y, width, height] in pixels")
    unknown = serializers.BooleanField(help_text="True when the best probability is under the threshold")
    best_probability = serializers.FloatField()
    top = GuessOutput(many=True)


class ModelOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="embedding or network")
    val_top1 = serializers.FloatField()
    created_at = serializers.DateTimeField()


class RecognizeOutput(serializers.Serializer):
    model = ModelOutput()
    threshold = serializers.FloatField()
    faces = FaceOutput(many=True)


class TrainingRunSerializer(serializers.Serializer):
    """A training run and its progress (``progress`` is 0..1)."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    reason = serializers.CharField()
    recognizer = serializers.CharField(help_text="embedding or network")
    phase = serializers.CharField()
    epoch = serializers.IntegerField()
    epochs = serializers.IntegerField()
    step = serializers.IntegerField()
    steps = serializers.IntegerField()
    loss = serializers.FloatField(allow_null=True)
    val_accuracy = serializers.FloatField(allow_null=True)
    eta_seconds = serializers.FloatField(allow_null=True)
    progress = serializers.FloatField()
    cancel_requested = serializers.BooleanField()
    n_train = serializers.IntegerField()
    n_validation = serializers.IntegerField()
    n_classes = serializers.IntegerField()
    metrics = serializers.DictField()
    error = serializers.CharField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class TrainingRequestSerializer(serializers.Serializer):
    epochs = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    force = serializers.BooleanField(required=False, default=False, help_text="Train even if no label changed.")
    scratch = serializers.BooleanField(
        required=False, default=False, help_text="Start from random weights, not from the active model's."
    )
    recognizer = serializers.ChoiceField(
        choices=["embedding", "network"],
        required=False,
        help_text="embedding: a head on the face embeddings (seconds); network: from the pixels. "
        "Default: the server's IDOLSITE_RECOGNIZER.",
    )


class ModelVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    run = serializers.IntegerField(source="run_id", allow_null=True)
    kind = serializers.CharField(help_text="embedding or network")
    embedder = serializers.CharField(help_text="The embedder and model file an embedding recognizer reads")
    model_hash = serializers.CharField()
    val_top1 = serializers.FloatField()
    metrics = serializers.DictField()
    fingerprint = serializers.CharField()
    input_size = serializers.IntegerField()
    classes = serializers.IntegerField(source="n_classes_for_api")
    is_active = serializers.BooleanField()
    pinned = serializers.BooleanField()
    set_aside = serializers.BooleanField()
    created_at = serializers.DateTimeField()


# --- active learning -------------------------------------------------------------------------


class SuggestionQueryInput(serializers.Serializer):
    idol = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    mode = serializers.ChoiceField(choices=["confident", "uncertain", "margin", "mistakes"], default="confident")
    cursor = serializers.IntegerField(
        required=False, min_value=0, max_value=2**31 - 1, default=0, help_text="next_cursor of the last page"
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)


class FacesIdolInput(serializers.Serializer):
    faces = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=500
    )
    idol = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    replace = serializers.BooleanField(required=False, default=False)


class IdolInput(serializers.Serializer):
    idol = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class SplitInput(serializers.Serializer):
    faces = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, default=list, max_length=5000
    )


class SuggestionOutput(serializers.Serializer):
    face = serializers.IntegerField(source="face_id")
    photo = serializers.IntegerField(source="face.photo_id")
    crop = serializers.SerializerMethodField()
    idol = serializers.IntegerField(source="idol_id")
    name = serializers.CharField(source="idol.name")
    idol_status = serializers.CharField(source="idol.status", help_text=IDOL_STATUS_HELP)
    probability = serializers.FloatField()
    margin = serializers.FloatField()
    top = serializers.JSONField()
    model = serializers.IntegerField(source="model_version_id")

    def get_crop(self, row) -> str:
        return row.face.crop.url if row.face.crop else ""


class FaceIdsQueryInput(serializers.Serializer):
    faces = serializers.CharField(max_length=12_000, help_text="Face ids, comma-separated (at most 500)")

    def validate_faces(self, value: str) -> list[int]:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not 1 <= len(parts) <= 500:
            raise serializers.ValidationError(gettext("give 1 to 500 face ids, comma-separated"))
        field = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        return [field.run_validation(p) for p in parts]


class FaceGuessOutput(serializers.Serializer):
    idol = serializers.IntegerField()
    name = serializers.CharField()
    idol_status = serializers.CharField(help_text=IDOL_STATUS_HELP)
    probability = serializers.FloatField(help_text="Rescaled after the idols rejected for the face")


class FaceSuggestionOutput(serializers.Serializer):
    face = serializers.IntegerField()
    model = serializers.IntegerField()
    unknown = serializers.BooleanField(help_text="The model places the face nowhere well: name no one")
    top = FaceGuessOutput(many=True, help_text="Best first; rejected, merged and mistaken idols left out")


class ClusterOutput(serializers.Serializer):
    id = serializers.IntegerField()
    # Null for clusters built from the face embeddings (all new ones); older ones name their model.
    model = serializers.IntegerField(source="model_version_id", allow_null=True)
    embedder = serializers.CharField(help_text="Embedder whose vectors grouped the faces.")
    model_hash = serializers.CharField(help_text="Its model file.")
    split = serializers.SerializerMethodField(help_text="A person split it: rebuilds keep it.")
    size = serializers.IntegerField()
    spread = serializers.FloatField()
    faces = serializers.SerializerMethodField()

    def get_faces(self, cluster) -> list[int]:
        return [m.face_id for m in cluster.members.all()]

    def get_split(self, cluster) -> bool:
        return cluster.split_at is not None
