"""Training runs (a user-visible job with progress) and the model versions they produce."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


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

    EMBEDDING = "embedding", _("Embedding recognizer")
    NETWORK = "network", _("Network from scratch")


class TrainingRun(models.Model):
    """One training: queued by a user, the schedule, new labels or ``manage.py train``; run by
    ``classifier.tasks.train`` (the network on the training cluster, the embedding recognizer on
    the default one)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(_("reason"), max_length=200, blank=True, help_text=_("Who or what asked for it."))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    options = models.JSONField(
        _("options"), default=dict, blank=True, help_text=_('E.g. {"epochs": 10, "force": true}.')
    )
    recognizer = models.CharField(
        _("recognizer"), max_length=16, choices=Recognizer.choices, default=Recognizer.NETWORK
    )
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)

    # Progress, written by the worker as it goes.
    phase = models.CharField(
        _("phase"), max_length=32, blank=True, help_text=_("loading, training, evaluating, saving")
    )
    epoch = models.PositiveIntegerField(_("epoch"), default=0)
    epochs = models.PositiveIntegerField(_("epochs"), default=0)
    step = models.PositiveIntegerField(_("step"), default=0)
    steps = models.PositiveIntegerField(_("steps"), default=0, help_text=_("Steps per epoch."))
    loss = models.FloatField(_("loss"), null=True, blank=True)
    val_accuracy = models.FloatField(_("val accuracy"), null=True, blank=True)
    eta_seconds = models.FloatField(_("eta seconds"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat at"), null=True, blank=True)

    # The data it saw and what came out.
    fingerprint = models.CharField(_("fingerprint"), max_length=64, blank=True)
    n_train = models.PositiveIntegerField(_("n train"), default=0)
    n_validation = models.PositiveIntegerField(_("n validation"), default=0)
    n_classes = models.PositiveIntegerField(_("n classes"), default=0)
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    history = models.JSONField(_("history"), default=dict, blank=True, help_text=_("Per-epoch loss and accuracy."))
    error = models.TextField(_("error"), blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = TrainingRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("training run")
        verbose_name_plural = _("training runs")
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
        return gettext("Training run %(id)s (%(status)s)") % {
            "id": self.pk,
            "status": self.get_status_display().lower(),
        }

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
    """A trained model: the folder ``<directory>/`` of the models' storage (``IDOLSITE_MODEL_DIR``
    or a bucket, see ``classifier.services.modelfiles``) with its ``manifest.json`` and ``model.json``
    (``classifier.ml.classifier`` for the network, ``classifier.ml.embedding_head`` for the
    embedding recognizer, which also names the embedder and model file its vectors came from)."""

    run = models.OneToOneField(
        TrainingRun,
        verbose_name=_("run"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="model_version",
    )
    directory = models.CharField(
        _("directory"), max_length=200, unique=True, help_text=_("Relative to IDOLSITE_MODEL_DIR.")
    )
    format_version = models.PositiveIntegerField(_("format version"))
    kind = models.CharField(_("kind"), max_length=16, choices=Recognizer.choices, default=Recognizer.NETWORK)
    embedder = models.CharField(_("embedder"), max_length=32, blank=True)
    model_hash = models.CharField(
        _("model hash"), max_length=16, blank=True, help_text=_("Of the embedder's model file.")
    )
    class_idol_ids = models.JSONField(
        _("class idol ids"), help_text=_("The idol id of each output; null for the 'other' class.")
    )
    input_size = models.PositiveIntegerField(_("input size"))
    fingerprint = models.CharField(_("fingerprint"), max_length=64, db_index=True)
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    val_top1 = models.FloatField(_("val top1"), help_text=_("Top-1 accuracy on the validation split."))
    is_active = models.BooleanField(_("is active"), default=False)
    pinned = models.BooleanField(
        _("pinned"), default=False, help_text=_("Pinned by an admin: new models do not replace it.")
    )
    set_aside = models.BooleanField(
        _("set aside"), default=False, help_text=_("Its files were corrupt or of another format.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        constraints = [
            # The recognizer reads the active model (classifier.recognition.load_active).
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="modelversion_one_active"),
            models.CheckConstraint(condition=Q(pinned=False) | Q(is_active=True), name="modelversion_pinned_is_active"),
            models.CheckConstraint(condition=Q(val_top1__gte=0.0) & Q(val_top1__lte=1.0), name="modelversion_top1_0_1"),
        ]

    def __str__(self) -> str:
        return gettext("Model %(id)s (%(top1)s)") % {"id": self.pk, "top1": f"{self.val_top1:.1%}"}

    @property
    def n_classes_for_api(self) -> int:
        return len(self.class_idol_ids or [])

    @property
    def path(self):  # -> Path
        """Its folder on local disk when the models' storage is ``IDOLSITE_MODEL_DIR`` (code
        reads the files through ``classifier.services.modelfiles``)."""
        return settings.IDOLSITE_MODEL_DIR / self.directory


# --- active learning: suggestions, rejections, clusters -----------------------------------------


class SuggestionQuerySet(models.QuerySet["Suggestion"]):
    def pending(self) -> SuggestionQuerySet:
        """Open suggestions of unlabeled, visible faces (what the review page offers), of idols the
        recognizer still knows (those merged or deleted by mistake since are hidden)."""
        from labeling.models import FaceLabel, Idol

        # NOT EXISTS, not a LEFT JOIN to the labels: PostgreSQL estimates the join's IS NULL
        # at one row and plans nested loops that read the whole table at a million faces.
        labeled = FaceLabel.objects.filter(face=OuterRef("face"))
        return self.filter(
            ~Exists(labeled),
            status=Suggestion.Status.PENDING,
            idol__isnull=False,
            face__excluded=False,
            face__photo__trashed_at__isnull=True,
        ).filter(Q(idol__deleted_at__isnull=True) | Q(idol__deletion_reason__in=Idol.RECOGNIZABLE_REASONS))


class Suggestion(models.Model):
    """What one model version says of one face: its top-1 idol (rejected idols left out) as
    columns, the top-5 as JSON, and the embedding (float16 bytes) for clustering.

    One row per (face, model version); ``classifier.tasks.suggest`` replaces the open rows of
    other versions for the faces it covers. Reviewed rows (accepted) stay: they are the
    counters and the calibration table of their version. Rows of labeled faces are kept too:
    they feed the "possible mistakes" mode."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")

    face = models.ForeignKey("faces.Face", verbose_name=_("face"), on_delete=models.CASCADE, related_name="suggestions")
    model_version = models.ForeignKey(
        ModelVersion, verbose_name=_("model version"), on_delete=models.CASCADE, related_name="suggestions"
    )
    idol = models.ForeignKey(
        "labeling.Idol",
        verbose_name=_("idol"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="suggestions",
    )
    probability = models.FloatField(_("probability"), help_text=_("Of the suggested idol."))
    margin = models.FloatField(_("margin"), help_text=_("Suggested idol's probability minus the next one's."))
    unknown = models.BooleanField(_("unknown"), default=False, help_text=_("The model places it nowhere well."))
    top = models.JSONField(_("top"), default=list, help_text=_('[{"idol": id, "p": probability}, ...] best first.'))
    embedding = models.BinaryField(
        _("embedding"), null=True, blank=True, help_text=_("float16 vector, for clustering.")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    labeled_other = models.BooleanField(
        _("labeled as another"),
        default=False,
        help_text=_("The face has labels and not this idol's (kept up to date): a possible mistake."),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = SuggestionQuerySet.as_manager()

    class Meta:
        ordering = ["-probability", "id"]
        verbose_name = _("suggestion")
        verbose_name_plural = _("suggestions")
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
            # The possible mistakes, most probable first: a few in a thousand open suggestions.
            models.Index(
                fields=["model_version", "-probability"],
                condition=Q(status="pending", labeled_other=True),
                name="suggestion_mistake_p_idx",
            ),
            # The calibration table and the counters of a version.
            models.Index(fields=["model_version", "status"], name="suggestion_version_status_idx"),
        ]

    def __str__(self) -> str:
        return gettext("face %(face)s: idol %(idol)s %(p)s (model %(model)s)") % {
            "face": self.face_id,
            "idol": self.idol_id,
            "p": f"{self.probability:.2f}",
            "model": self.model_version_id,
        }

    def vector(self):  # -> np.ndarray | None
        import numpy as np

        return None if self.embedding is None else np.frombuffer(bytes(self.embedding), dtype=np.float16)


class SuggestionRejection(models.Model):
    """ "Not this idol" for a face: remembered forever, never suggested again for that idol.
    The model version and probability it had make the rejected column of the calibration."""

    face = models.ForeignKey(
        "faces.Face", verbose_name=_("face"), on_delete=models.CASCADE, related_name="suggestion_rejections"
    )
    idol = models.ForeignKey("labeling.Idol", verbose_name=_("idol"), on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    model_version = models.ForeignKey(
        ModelVersion,
        verbose_name=_("model version"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="rejections",
    )
    probability = models.FloatField(_("probability"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("suggestion rejection")
        verbose_name_plural = _("suggestion rejections")
        constraints = [models.UniqueConstraint(fields=["face", "idol"], name="suggestionrejection_unique_face_idol")]
        indexes = [models.Index(fields=["model_version", "created_at"], name="rejection_version_idx")]

    def __str__(self) -> str:
        return gettext("face %(face)s is not idol %(idol)s") % {"face": self.face_id, "idol": self.idol_id}


class FaceCluster(models.Model):
    """ "Maybe the same person": unlabeled faces no model places well, grouped by their pretrained
    face embeddings (``classifier.services.clusters.clusters_build``). A rebuild replaces the open
    clusters nobody touched; named ones and those a person split stay."""

    embedder = models.CharField(
        _("embedder"), max_length=32, blank=True, help_text=_("Embedder whose vectors grouped the faces.")
    )
    model_hash = models.CharField(
        _("model hash"), max_length=16, blank=True, help_text=_("Its model file (faces.FaceEmbedding).")
    )
    # Clusters built before the embeddings, from a trained model's own vectors; kept as history.
    model_version = models.ForeignKey(
        ModelVersion,
        verbose_name=_("model version"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="clusters",
    )
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    named_idol = models.ForeignKey(
        "labeling.Idol",
        verbose_name=_("named idol"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    named_at = models.DateTimeField(_("named at"), null=True, blank=True)
    split_at = models.DateTimeField(
        _("split at"),
        null=True,
        blank=True,
        help_text=_("When a person split it or split it off: a rebuild keeps it and its faces."),
    )
    spread = models.FloatField(_("spread"), default=0.0, help_text=_("Mean distance of the members to the centre."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("face cluster")
        verbose_name_plural = _("face clusters")
        indexes = [
            # The cluster page lists the open clusters; a rebuild replaces those nobody split.
            models.Index(
                fields=["split_at", "id"], condition=Q(named_at__isnull=True), name="facecluster_open_split_idx"
            )
        ]

    def __str__(self) -> str:
        return gettext("Cluster %(id)s") % {"id": self.pk}


class FaceClusterMember(models.Model):
    cluster = models.ForeignKey(
        FaceCluster, verbose_name=_("cluster"), on_delete=models.CASCADE, related_name="members"
    )
    face = models.ForeignKey("faces.Face", verbose_name=_("face"), on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["cluster", "face"]
        verbose_name = _("face cluster member")
        verbose_name_plural = _("face cluster members")
        constraints = [models.UniqueConstraint(fields=["cluster", "face"], name="faceclustermember_unique")]

    def __str__(self) -> str:
        return gettext("face %(face)s in cluster %(cluster)s") % {"face": self.face_id, "cluster": self.cluster_id}
