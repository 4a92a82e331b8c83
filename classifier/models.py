"""Training runs (a user-visible job with progress) and the model versions they produce."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TrainingRunQuerySet(models.QuerySet["TrainingRun"]):
    def unfinished(self) -> TrainingRunQuerySet:
        return self.filter(status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING])

    def stale(self, *, seconds: int) -> TrainingRunQuerySet:
        """Running runs whose worker stopped beating: killed, out of memory, machine gone."""
        limit = timezone.now() - timezone.timedelta(seconds=seconds)
        return self.filter(status=TrainingRun.Status.RUNNING, heartbeat_at__lt=limit)


class Recognizer(models.TextChoices):
    """What a training makes: a head on the pretrained face embeddings (seconds, from the first
    labels) or the network trained from the crops' pixels (minutes to hours)."""

    EMBEDDING = "embedding", "Embedding recognizer"
    NETWORK = "network", "Network from scratch"


class TrainingRun(models.Model):
    """One training: queued by a user, the schedule, new labels or ``manage.py train``; run by
    ``classifier.tasks.train`` (the network on the training cluster, the embedding recognizer on
    the default one)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(max_length=200, blank=True, help_text="Who or what asked for it.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    options = models.JSONField(default=dict, blank=True, help_text='E.g. {"epochs": 10, "force": true}.')
    recognizer = models.CharField(max_length=16, choices=Recognizer.choices, default=Recognizer.NETWORK)
    cancel_requested = models.BooleanField(default=False)

    # Progress, written by the worker as it goes.
    phase = models.CharField(max_length=32, blank=True, help_text="loading, training, evaluating, saving")
    epoch = models.PositiveIntegerField(default=0)
    epochs = models.PositiveIntegerField(default=0)
    step = models.PositiveIntegerField(default=0)
    steps = models.PositiveIntegerField(default=0, help_text="Steps per epoch.")
    loss = models.FloatField(null=True, blank=True)
    val_accuracy = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    # The data it saw and what came out.
    fingerprint = models.CharField(max_length=64, blank=True)
    n_train = models.PositiveIntegerField(default=0)
    n_validation = models.PositiveIntegerField(default=0)
    n_classes = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    history = models.JSONField(default=dict, blank=True, help_text="Per-epoch loss and accuracy.")
    error = models.TextField(blank=True)
    note = models.CharField(max_length=500, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TrainingRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One training of each recognizer at a time, held by the database (classifier.tasks.train
            # claims it): seconds-long embedding trainings never wait for an hour-long network.
            models.UniqueConstraint(
                fields=["recognizer"], condition=Q(status="running"), name="trainingrun_one_running_per_recognizer"
            ),
            models.CheckConstraint(
                condition=Q(step__lte=models.F("steps")) | Q(steps=0), name="trainingrun_step_le_steps"
            ),
        ]

    def __str__(self) -> str:
        return f"Training run {self.pk} ({self.get_status_display().lower()})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress(self) -> float:
        """0..1 over the whole run (epochs and steps), for the progress bars."""
        if self.status == self.Status.SUCCEEDED:
            return 1.0
        if not self.epochs:
            return 0.0
        done = max(self.epoch - 1, 0) + (self.step / self.steps if self.steps else 0.0)
        return min(max(done / self.epochs, 0.0), 1.0)


class ModelVersionQuerySet(models.QuerySet["ModelVersion"]):
    def active(self) -> ModelVersion | None:
        return self.filter(is_active=True).first()


class ModelVersion(models.Model):
    """A trained model on disk: ``<IDOLSITE_MODEL_DIR>/<directory>/`` with its ``model.json``
    (``classifier.ml.classifier`` for the network, ``classifier.ml.embedding_head`` for the
    embedding recognizer, which also names the embedder and model file its vectors came from)."""

    run = models.OneToOneField(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_version"
    )
    directory = models.CharField(max_length=200, unique=True, help_text="Relative to IDOLSITE_MODEL_DIR.")
    format_version = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Recognizer.choices, default=Recognizer.NETWORK)
    embedder = models.CharField(max_length=32, blank=True)
    model_hash = models.CharField(max_length=16, blank=True, help_text="Of the embedder's model file.")
    class_idol_ids = models.JSONField(help_text="The idol id of each output; null for the 'other' class.")
    input_size = models.PositiveIntegerField()
    fingerprint = models.CharField(max_length=64, db_index=True)
    metrics = models.JSONField(default=dict, blank=True)
    val_top1 = models.FloatField(help_text="Top-1 accuracy on the validation split.")
    is_active = models.BooleanField(default=False)
    pinned = models.BooleanField(default=False, help_text="Pinned by an admin: new models do not replace it.")
    set_aside = models.BooleanField(default=False, help_text="Its files were corrupt or of another format.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The recognizer reads the active model (classifier.recognition.load_active).
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="modelversion_one_active"),
            models.CheckConstraint(condition=Q(pinned=False) | Q(is_active=True), name="modelversion_pinned_is_active"),
            models.CheckConstraint(condition=Q(val_top1__gte=0.0) & Q(val_top1__lte=1.0), name="modelversion_top1_0_1"),
        ]

    def __str__(self) -> str:
        return f"Model {self.pk} ({self.val_top1:.1%})"

    @property
    def n_classes_for_api(self) -> int:
        return len(self.class_idol_ids or [])

    @property
    def path(self):  # -> Path
        return settings.IDOLSITE_MODEL_DIR / self.directory


# --- active learning: suggestions, rejections, clusters -----------------------------------------


class SuggestionQuerySet(models.QuerySet["Suggestion"]):
    def pending(self) -> SuggestionQuerySet:
        """Open suggestions of unlabeled, visible faces (what the review page offers), of idols the
        recognizer still knows (those merged or deleted by mistake since are hidden)."""
        from labeling.models import Idol

        return self.filter(
            status=Suggestion.Status.PENDING,
            idol__isnull=False,
            face__excluded=False,
            face__photo__trashed_at__isnull=True,
            face__labels__isnull=True,
        ).filter(Q(idol__deleted_at__isnull=True) | Q(idol__deletion_reason__in=Idol.RECOGNIZABLE_REASONS))


class Suggestion(models.Model):
    """What one model version says of one face: its top-1 idol (rejected idols left out) as
    columns, the top-5 as JSON, and the embedding (float16 bytes) for clustering.

    One row per (face, model version); ``classifier.tasks.suggest`` replaces the open rows of
    other versions for the faces it covers. Reviewed rows (accepted) stay: they are the
    counters and the calibration table of their version. Rows of labeled faces are kept too:
    they feed the "possible mistakes" mode."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"

    face = models.ForeignKey("faces.Face", on_delete=models.CASCADE, related_name="suggestions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="suggestions")
    idol = models.ForeignKey(
        "labeling.Idol", null=True, blank=True, on_delete=models.CASCADE, related_name="suggestions"
    )
    probability = models.FloatField(help_text="Of the suggested idol.")
    margin = models.FloatField(help_text="Suggested idol's probability minus the next one's.")
    unknown = models.BooleanField(default=False, help_text="The model places it nowhere well.")
    top = models.JSONField(default=list, help_text='[{"idol": id, "p": probability}, ...] best first.')
    embedding = models.BinaryField(null=True, blank=True, help_text="float16 vector, for clustering.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SuggestionQuerySet.as_manager()

    class Meta:
        ordering = ["-probability", "id"]
        constraints = [
            models.UniqueConstraint(fields=["face", "model_version"], name="suggestion_unique_face_version"),
            models.CheckConstraint(
                condition=Q(probability__gte=0.0) & Q(probability__lte=1.0), name="suggestion_probability_0_1"
            ),
        ]
        indexes = [
            # The review page: one idol's (or all) open suggestions by probability or margin.
            models.Index(
                fields=["model_version", "idol", "-probability"],
                condition=Q(status="pending"),
                name="suggestion_pending_idol_p_idx",
            ),
            models.Index(
                fields=["model_version", "-probability"], condition=Q(status="pending"), name="suggestion_pending_p_idx"
            ),
            models.Index(
                fields=["model_version", "margin"], condition=Q(status="pending"), name="suggestion_pending_margin_idx"
            ),
            # The calibration table and the counters of a version.
            models.Index(fields=["model_version", "status"], name="suggestion_version_status_idx"),
        ]

    def __str__(self) -> str:
        return f"face {self.face_id}: idol {self.idol_id} {self.probability:.2f} (model {self.model_version_id})"

    def vector(self):  # -> np.ndarray | None
        import numpy as np

        return None if self.embedding is None else np.frombuffer(bytes(self.embedding), dtype=np.float16)


class SuggestionRejection(models.Model):
    """ "Not this idol" for a face: remembered forever, never suggested again for that idol.
    The model version and probability it had make the rejected column of the calibration."""

    face = models.ForeignKey("faces.Face", on_delete=models.CASCADE, related_name="suggestion_rejections")
    idol = models.ForeignKey("labeling.Idol", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="rejections"
    )
    probability = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["face", "idol"], name="suggestionrejection_unique_face_idol")]
        indexes = [models.Index(fields=["model_version", "created_at"], name="rejection_version_idx")]

    def __str__(self) -> str:
        return f"face {self.face_id} is not idol {self.idol_id}"


class FaceCluster(models.Model):
    """ "Maybe the same person": unlabeled faces no model places well, grouped by their pretrained
    face embeddings (``classifier.services.clusters.clusters_build``). A rebuild replaces the open
    clusters nobody touched; named ones and those a person split stay."""

    embedder = models.CharField(max_length=32, blank=True, help_text="Embedder whose vectors grouped the faces.")
    model_hash = models.CharField(max_length=16, blank=True, help_text="Its model file (faces.FaceEmbedding).")
    # Clusters built before the embeddings, from a trained model's own vectors; kept as history.
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="clusters"
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    named_idol = models.ForeignKey("labeling.Idol", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    named_at = models.DateTimeField(null=True, blank=True)
    split_at = models.DateTimeField(
        null=True, blank=True, help_text="When a person split it or split it off: a rebuild keeps it and its faces."
    )
    spread = models.FloatField(default=0.0, help_text="Mean distance of the members to the centre.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The cluster page lists the open clusters; a rebuild replaces those nobody split.
            models.Index(
                fields=["split_at", "id"], condition=Q(named_at__isnull=True), name="facecluster_open_split_idx"
            )
        ]

    def __str__(self) -> str:
        return f"Cluster {self.pk}"


class FaceClusterMember(models.Model):
    cluster = models.ForeignKey(FaceCluster, on_delete=models.CASCADE, related_name="members")
    face = models.ForeignKey("faces.Face", on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["cluster", "face"]
        constraints = [models.UniqueConstraint(fields=["cluster", "face"], name="faceclustermember_unique")]

    def __str__(self) -> str:
        return f"face {self.face_id} in cluster {self.cluster_id}"
