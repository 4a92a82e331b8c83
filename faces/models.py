"""Sources, photos, faces, and the tombstones of trashed photos."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Source(models.Model):
    """Where photos come from. The crawler of each kind keeps its cursor in ``state``."""

    class Kind(models.TextChoices):
        RSS = "rss", _("RSS / Atom feed")
        PAGE = "page", _("Web page")
        MASTODON = "mastodon", _("Mastodon account")
        BLUESKY = "bluesky", _("Bluesky account")
        X = "x", _("X (Twitter) account")
        FOLDER = "folder", _("Local folder")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=200)
    locator = models.CharField(
        _("locator"),
        max_length=2000,
        help_text=_("Feed or page URL, account handle (user@instance, handle.bsky.social, name) or folder path."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    poll_interval_minutes = models.PositiveIntegerField(_("poll interval minutes"), default=30)
    options = models.JSONField(
        _("options"), default=dict, blank=True, help_text=_('Kind-specific options, e.g. {"skip_reposts": true}.')
    )
    state = models.JSONField(
        _("state"), default=dict, blank=True, help_text=_("Cursor: since-id, ETag, Last-Modified, ...")
    )
    last_run_at = models.DateTimeField(_("last run at"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    seen_count = models.PositiveBigIntegerField(_("seen count"), default=0)
    new_count = models.PositiveBigIntegerField(_("new count"), default=0)
    duplicate_count = models.PositiveBigIntegerField(_("duplicate count"), default=0)
    failed_count = models.PositiveBigIntegerField(_("failed count"), default=0)
    crawl_claimed_at = models.DateTimeField(
        _("crawl claimed at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Set while a worker crawls it, so no other does."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("source")
        verbose_name_plural = _("sources")
        constraints = [
            models.UniqueConstraint(fields=["kind", "locator"], name="source_unique_kind_locator"),
            models.CheckConstraint(condition=Q(poll_interval_minutes__gte=1), name="source_poll_interval_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class PhotoQuerySet(models.QuerySet["Photo"]):
    def pending_detection(self) -> PhotoQuerySet:
        return self.filter(status=Photo.Status.NEW, trashed_at__isnull=True).order_by("created_at", "id")

    def claimable(self, *, now: datetime, timeout_seconds: int) -> PhotoQuerySet:
        """Photos no worker is detecting: never claimed, or claimed so long ago that the worker
        must have died (``IDOLSITE_DETECT_CLAIM_TIMEOUT``)."""
        return self.filter(trashed_at__isnull=True).filter(
            Q(detection_claimed_at__isnull=True) | Q(detection_claimed_at__lt=now - timedelta(seconds=timeout_seconds))
        )

    def stale_claims(self, *, now: datetime, timeout_seconds: int) -> PhotoQuerySet:
        """Photos claimed by a worker that must have died (read by the sweep,
        faces.tasks.sweep_detection_claims)."""
        return self.filter(detection_claimed_at__lt=now - timedelta(seconds=timeout_seconds)).order_by("id")

    def failed(self) -> PhotoQuerySet:
        return self.filter(status=Photo.Status.FAILED)

    def trashed(self) -> PhotoQuerySet:
        return self.filter(trashed_at__isnull=False)

    def with_faces(self, *face_lookups: str) -> PhotoQuerySet:
        """Each photo with its source and every face (excluded ones too), left to right, and
        ``face_lookups`` prefetched on the faces (apps built on faces name their relations): two
        queries and one a prefetched relation, whatever the number of faces."""
        faces = Face.objects.order_by("x", "id").prefetch_related(*face_lookups)
        return self.select_related("source").prefetch_related(models.Prefetch("faces", queryset=faces))


class ActivePhotoManager(models.Manager.from_queryset(PhotoQuerySet)):  # type: ignore[misc]
    """The default: trashed photos are hidden. ``Photo.all_objects`` sees them too."""

    def get_queryset(self) -> PhotoQuerySet:
        return super().get_queryset().filter(trashed_at__isnull=True)


def photo_upload_to(instance: Photo, filename: str) -> str:
    # Content-addressed: the name is the hash, so a file is never written twice.
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"photos/{instance.sha256[:2]}/{instance.sha256}.{ext}"


def thumbnail_upload_to(instance: Photo, filename: str) -> str:
    return f"thumbs/{instance.sha256[:2]}/{instance.sha256}.jpg"


class Photo(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("New (waiting for detection)")
        DETECTED = "detected", _("Detected")
        FAILED = "failed", _("Failed")

    image = models.FileField(_("image"), upload_to=photo_upload_to, max_length=255)
    thumbnail = models.FileField(_("thumbnail"), upload_to=thumbnail_upload_to, max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, unique=True, editable=False)
    phash = models.CharField(
        _("perceptual hash"),
        max_length=16,
        db_index=True,
        editable=False,
        help_text=_("64-bit difference hash (hex)."),
    )
    width = models.PositiveIntegerField(_("width"), editable=False)
    height = models.PositiveIntegerField(_("height"), editable=False)
    format = models.CharField(_("format"), max_length=8, editable=False)
    file_size = models.PositiveBigIntegerField(_("file size"), editable=False)
    original_name = models.CharField(_("original name"), max_length=255, blank=True)

    source = models.ForeignKey(
        Source,
        verbose_name=_("source"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="photos",
    )
    source_url = models.URLField(_("source URL"), max_length=2000, blank=True)
    source_item_id = models.CharField(_("source item ID"), max_length=255, blank=True)
    author = models.CharField(_("author"), max_length=255, blank=True)
    caption = models.TextField(_("caption"), blank=True)
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.NEW)
    error = models.TextField(_("error"), blank=True)
    detector = models.CharField(_("detector"), max_length=32, blank=True)
    detection_info = models.JSONField(
        _("detection info"), default=dict, blank=True, help_text=_("What detection skipped, and why.")
    )
    detected_at = models.DateTimeField(_("detected at"), null=True, blank=True)
    # Set by the worker detecting the photo (a conditional UPDATE in faces.services), cleared when
    # it is done; the token tells a worker whether its claim still holds when it writes.
    detection_claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    detection_claim = models.UUIDField(null=True, blank=True, editable=False)
    # Claims since the last detection ended: more than one means workers died on it (counted by
    # faces.services; the sweep fails the photo at IDOLSITE_DETECT_MAX_ATTEMPTS). NULL is 0:
    # a nullable column is added to a big table in place, without rebuilding it (SQLite).
    detection_attempts = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    trashed_at = models.DateTimeField(_("trashed at"), null=True, blank=True, db_index=True)
    trashed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("trashed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = ActivePhotoManager()
    all_objects = PhotoQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        base_manager_name = "all_objects"
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        constraints = [
            models.CheckConstraint(condition=Q(width__gt=0) & Q(height__gt=0), name="photo_size_positive"),
            models.UniqueConstraint(
                fields=["source", "source_item_id"],
                condition=~Q(source_item_id=""),
                name="photo_unique_source_item",
            ),
        ]
        indexes = [
            # Read by faces.tasks (detection): the queue of photos waiting for detection.
            models.Index(fields=["created_at"], condition=Q(status="new"), name="photo_pending_detection_idx"),
            # Read by the home page (classifier.overview): the few photos whose detection failed.
            models.Index(fields=["-id"], condition=Q(status="failed"), name="photo_failed_idx"),
        ]

    def __str__(self) -> str:
        return self.original_name or self.source_url or gettext("Photo %(id)s") % {"id": self.pk}

    @property
    def is_trashed(self) -> bool:
        return self.trashed_at is not None


class PhotoTombstone(models.Model):
    """What remains of a trashed photo so that no import or crawl ever brings it back."""

    sha256 = models.CharField(max_length=64, unique=True)
    phash = models.CharField(_("perceptual hash"), max_length=16, db_index=True)
    source_url = models.URLField(_("source URL"), max_length=2000, blank=True, db_index=True)
    source = models.ForeignKey(
        Source, verbose_name=_("source"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_item_id = models.CharField(_("source item ID"), max_length=255, blank=True)
    photo = models.OneToOneField(
        Photo,
        verbose_name=_("photo"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tombstone",
        help_text=_("The trashed photo while it is kept; empty once it was purged."),
    )
    trashed_at = models.DateTimeField(_("trashed at"), default=timezone.now)

    class Meta:
        verbose_name = _("photo tombstone")
        verbose_name_plural = _("photo tombstones")

    def __str__(self) -> str:
        return gettext("Tombstone %(hash)s") % {"hash": self.sha256[:12]}


class PhotoSighting(models.Model):
    """Another place a stored photo was seen: the same item again, or a re-encoded repost.

    Crawling links a repost to the first photo instead of storing it twice."""

    photo = models.ForeignKey(Photo, verbose_name=_("photo"), on_delete=models.CASCADE, related_name="sightings")
    source = models.ForeignKey(
        Source, verbose_name=_("source"), null=True, blank=True, on_delete=models.SET_NULL, related_name="sightings"
    )
    source_item_id = models.CharField(_("source item ID"), max_length=255, blank=True)
    source_url = models.URLField(_("source URL"), max_length=2000, blank=True, db_index=True)
    how = models.CharField(_("how"), max_length=16, help_text=_("What matched: url, sha256 or phash."))
    seen_at = models.DateTimeField(_("seen at"), auto_now_add=True)

    class Meta:
        ordering = ["-seen_at"]
        verbose_name = _("photo sighting")
        verbose_name_plural = _("photo sightings")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_item_id"],
                condition=~Q(source_item_id=""),
                name="photosighting_unique_source_item",
            ),
        ]

    def __str__(self) -> str:
        return gettext("Photo %(id)s seen at %(where)s") % {
            "id": self.photo_id,
            "where": self.source_url or self.source_item_id,
        }


class FaceQuerySet(models.QuerySet["Face"]):
    def visible(self) -> FaceQuerySet:
        """Faces to show and label: not excluded, on a photo that is not trashed."""
        return self.filter(excluded=False, photo__trashed_at__isnull=True)

    def excluded(self) -> FaceQuerySet:
        return self.filter(excluded=True)


def crop_upload_to(instance: Face, filename: str) -> str:
    return f"crops/{instance.photo.sha256[:2]}/{instance.photo.sha256[:16]}_{filename}"


class Face(models.Model):
    class ExclusionReason(models.TextChoices):
        NOT_A_FACE = "not_face", _("Not a face")
        NOT_A_TARGET = "not_target", _("Not a target (someone else)")
        BAD_CROP = "bad_crop", _("Bad crop")

    photo = models.ForeignKey(Photo, verbose_name=_("photo"), on_delete=models.CASCADE, related_name="faces")
    x = models.IntegerField()
    y = models.IntegerField()
    w = models.IntegerField()
    h = models.IntegerField()
    landmarks = models.JSONField(
        _("landmarks"), default=dict, blank=True, help_text=_("Points in photo pixels, e.g. left_eye: [x, y].")
    )
    angle = models.FloatField(_("angle"), default=0.0, help_text=_("Rotation in degrees that made the face upright."))
    detector = models.CharField(_("detector"), max_length=32)
    score = models.FloatField(_("score"))
    crop = models.FileField(_("crop"), upload_to=crop_upload_to, max_length=255)
    excluded = models.BooleanField(_("excluded"), default=False)
    exclusion_reason = models.CharField(
        _("exclusion reason"), max_length=16, choices=ExclusionReason.choices, blank=True
    )
    excluded_at = models.DateTimeField(_("excluded at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = FaceQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = _("face")
        verbose_name_plural = _("faces")
        constraints = [
            models.CheckConstraint(condition=Q(w__gt=0) & Q(h__gt=0), name="face_size_positive"),
            models.CheckConstraint(condition=Q(x__gte=0) & Q(y__gte=0), name="face_origin_inside_photo"),
            models.CheckConstraint(condition=Q(score__gte=0.0) & Q(score__lte=1.0), name="face_score_0_1"),
            models.CheckConstraint(
                condition=(Q(excluded=False) & Q(exclusion_reason="")) | (Q(excluded=True) & ~Q(exclusion_reason="")),
                name="face_excluded_has_reason",
            ),
            # "face_box_inside_photo" (x + w <= photo.width, y + h <= photo.height) spans two
            # tables, so it is a trigger: see migration 0002_face_box_inside_photo.
        ]
        indexes = [
            # Read by the labeling grid: faces still to label, newest first.
            models.Index(fields=["-id"], condition=Q(excluded=False), name="face_visible_idx"),
            # Read by the labeling grid sorted by detector score (keyset on score, id): the
            # doubtful faces first, or the surest.
            models.Index(fields=["score", "id"], condition=Q(excluded=False), name="face_visible_score_idx"),
            # Read by the labeling grid's "excluded" filter: the few excluded faces, newest first.
            models.Index(fields=["-id"], condition=Q(excluded=True), name="face_excluded_idx"),
        ]

    def __str__(self) -> str:
        return gettext("Face %(id)s in photo %(photo)s") % {"id": self.pk, "photo": self.photo_id}

    @property
    def box(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


class FaceEmbeddingQuerySet(models.QuerySet["FaceEmbedding"]):
    def of(self, *, embedder: str, model_hash: str) -> FaceEmbeddingQuerySet:
        return self.filter(embedder=embedder, model_hash=model_hash)

    def computed(self) -> FaceEmbeddingQuerySet:
        return self.filter(error="")

    def failed(self) -> FaceEmbeddingQuerySet:
        return self.exclude(error="")


class FaceEmbedding(models.Model):
    """A face's vector from one embedder and model file, or why it could not be computed (then
    ``vector`` is empty and the face is not tried again unless asked: ``manage.py embed --failed``).
    Vectors of different models are never compared: readers filter on embedder and model hash."""

    face = models.ForeignKey(Face, verbose_name=_("face"), on_delete=models.CASCADE, related_name="embeddings")
    embedder = models.CharField(_("embedder"), max_length=32)
    model_hash = models.CharField(
        _("model hash"), max_length=16, help_text=_("First 16 hex digits of the model file's sha256.")
    )
    dimension = models.PositiveSmallIntegerField(_("dimension"), default=0)
    vector = models.BinaryField(
        _("vector"), blank=True, default=b"", help_text=_("float32, little-endian, dimension values.")
    )
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = FaceEmbeddingQuerySet.as_manager()

    class Meta:
        verbose_name = _("face embedding")
        verbose_name_plural = _("face embeddings")
        constraints = [
            models.UniqueConstraint(fields=["face", "embedder", "model_hash"], name="faceembedding_unique_model"),
            models.CheckConstraint(
                condition=(Q(error="") & Q(dimension__gt=0)) | (~Q(error="") & Q(dimension=0)),
                name="faceembedding_vector_or_error",
            ),
        ]
        indexes = [
            # Read by faces.selectors.embedding_matrix: every vector of one model, in face order.
            models.Index(fields=["embedder", "model_hash", "face"], name="faceembedding_model_idx"),
        ]

    def __str__(self) -> str:
        return gettext("%(embedder)s/%(model)s of face %(face)s") % {
            "embedder": self.embedder,
            "model": self.model_hash,
            "face": self.face_id,
        }
