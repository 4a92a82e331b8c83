"""Idols, groups and memberships, face labels and the append-only history of labeling."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from faces.models import Face
from labeling.text import name_key


class IdolGroup(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    reading = models.CharField(_("reading"), max_length=200, blank=True, help_text=_("Kana reading."))
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("group")
        verbose_name_plural = _("groups")

    def __str__(self) -> str:
        return self.name


class IdolQuerySet(models.QuerySet["Idol"]):
    def active(self) -> IdolQuerySet:
        return self.filter(deleted_at__isnull=True)

    def deleted(self) -> IdolQuerySet:
        return self.filter(deleted_at__isnull=False)

    def recognizable(self) -> IdolQuerySet:
        """Idols the recognizer knows: active ones and those who left the group or the
        industry (her old photos keep coming); merged ones and those deleted for another
        reason (a mistake, a duplicate) are not."""
        return self.filter(Q(deleted_at__isnull=True) | Q(deletion_reason__in=Idol.RECOGNIZABLE_REASONS))


class ActiveIdolManager(models.Manager.from_queryset(IdolQuerySet)):  # type: ignore[misc]
    """The default manager: idols who graduated, retired or were merged are hidden."""

    def get_queryset(self) -> IdolQuerySet:
        return super().get_queryset().filter(deleted_at__isnull=True)


class Idol(models.Model):
    class DeletionReason(models.TextChoices):
        GRADUATED = "graduated", _("Graduated")
        RETIRED = "retired", _("Retired")
        MERGED = "merged", _("Merged into another idol")
        OTHER = "other", _("Other")

    # Reasons an idol stays a class of the recognizer: she left, her face did not.
    RECOGNIZABLE_REASONS = (DeletionReason.GRADUATED, DeletionReason.RETIRED)

    name = models.CharField(_("name"), max_length=200)
    reading = models.CharField(_("reading"), max_length=200, blank=True, help_text=_("Kana reading of the name."))
    handles = models.JSONField(
        _("handles"),
        default=dict,
        blank=True,
        help_text=_('Accounts by platform, e.g. {"x": "name", "instagram": "name"}.'),
    )
    notes = models.TextField(_("notes"), blank=True)
    search_text = models.TextField(
        _("search text"),
        blank=True,
        editable=False,
        help_text=_("Folded name, reading, aliases, handles and groups, for search."),
    )
    # labeling.text.name_key of the name and of the reading, kept by idol_refresh_search_text:
    # the duplicate check (labeling.services.names) looks them up.
    name_key = models.CharField(_("name key"), max_length=255, blank=True, editable=False, db_index=True)
    reading_key = models.CharField(_("reading key"), max_length=255, blank=True, editable=False, db_index=True)
    same_name_ok = models.BooleanField(
        _("another person with the same name"),
        default=False,
        help_text=_("She has the name of an existing idol but is someone else: added on purpose."),
    )
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True, db_index=True)
    deletion_reason = models.CharField(_("deletion reason"), max_length=16, choices=DeletionReason.choices, blank=True)
    merged_into = models.ForeignKey(
        "self", verbose_name=_("merged into"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ActiveIdolManager()
    all_objects = IdolQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        base_manager_name = "all_objects"
        verbose_name = _("idol")
        verbose_name_plural = _("idols")
        constraints = [
            models.CheckConstraint(
                condition=(Q(deleted_at__isnull=True) & Q(deletion_reason=""))
                | (Q(deleted_at__isnull=False) & ~Q(deletion_reason="")),
                name="idol_deleted_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(merged_into__isnull=True) | Q(deletion_reason="merged"),
                name="idol_merged_into_only_when_merged",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_recognizable(self) -> bool:
        return not self.is_deleted or self.deletion_reason in self.RECOGNIZABLE_REASONS

    @property
    def status(self) -> str:
        """``active``, or why she was deleted (``graduated``, ``retired``, ``merged``, ``other``)."""
        return self.deletion_reason or "active"


class IdolAlias(models.Model):
    class Kind(models.TextChoices):
        OLD_NAME = "old_name", _("Old name")
        NICKNAME = "nickname", _("Nickname")
        OTHER = "other", _("Other spelling")

    idol = models.ForeignKey(Idol, verbose_name=_("idol"), on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.OTHER)
    name_key = models.CharField(
        _("name key"), max_length=255, blank=True, editable=False, db_index=True
    )  # see Idol.name_key
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("idol alias")
        verbose_name_plural = _("aliases")
        constraints = [models.UniqueConstraint(fields=["idol", "name"], name="idolalias_unique_idol_name")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.name_key = name_key(self.name)
        if kwargs.get("update_fields") is not None and "name" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "name_key"}
        super().save(*args, **kwargs)


class Membership(models.Model):
    idol = models.ForeignKey(Idol, verbose_name=_("idol"), on_delete=models.PROTECT, related_name="memberships")
    group = models.ForeignKey(IdolGroup, verbose_name=_("group"), on_delete=models.PROTECT, related_name="memberships")
    joined = models.DateField(_("joined"), null=True, blank=True)
    left = models.DateField(_("left"), null=True, blank=True)
    notes = models.CharField(_("notes"), max_length=500, blank=True)

    class Meta:
        ordering = ["joined", "id"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.CheckConstraint(
                condition=Q(left__isnull=True) | Q(joined__isnull=True) | Q(left__gte=models.F("joined")),
                name="membership_left_after_joined",
            ),
            models.UniqueConstraint(
                fields=["idol", "group"], condition=Q(left__isnull=True), name="membership_one_open_per_group"
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(idol)s in %(group)s") % {"idol": self.idol, "group": self.group}


class How(models.TextChoices):
    """How a label came to be (or went away)."""

    MANUAL = "manual", _("Manual")
    SUGGESTION = "suggestion", _("Accepted suggestion")
    IMPORT = "import", _("Import")
    MERGE = "merge", _("Idol merge")
    UNDO = "undo", _("Undo")
    REDETECT = "redetect", _("Carried over by re-detection")


class FaceLabel(models.Model):
    """Who is on a face. A face may carry several labels (two people in one crop)."""

    How = How
    LABEL_HOWS = (How.MANUAL, How.SUGGESTION, How.IMPORT)

    face = models.ForeignKey(Face, verbose_name=_("face"), on_delete=models.CASCADE, related_name="labels")
    idol = models.ForeignKey(Idol, verbose_name=_("idol"), on_delete=models.PROTECT, related_name="labels")
    how = models.CharField(_("how"), max_length=16, choices=How.choices, default=How.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["face", "idol"]
        verbose_name = _("face label")
        verbose_name_plural = _("face labels")
        constraints = [models.UniqueConstraint(fields=["face", "idol"], name="facelabel_unique_face_idol")]
        indexes = [models.Index(fields=["idol", "face"], name="facelabel_idol_face_idx")]

    def __str__(self) -> str:
        return f"{self.face} = {self.idol}"


class AppendOnlyQuerySet(models.QuerySet["LabelEvent"]):
    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[LabelEvent]:
        created = super().bulk_create(objs, *args, **kwargs)
        if created:
            from labeling.signals import labels_changed

            labels_changed.send(sender=LabelEvent, events=created)
        return created

    def update(self, **kwargs: Any) -> int:
        raise TypeError("label events are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("label events are append-only")


class LabelEvent(models.Model):
    """One change to a face's labels or exclusion. Append-only: the history is never rewritten.

    The face and idol keys carry no database constraint, so the history outlives a purged photo.
    """

    class Action(models.TextChoices):
        LABEL_ADDED = "label_added", _("Label added")
        LABEL_REMOVED = "label_removed", _("Label removed")
        EXCLUDED = "excluded", _("Face excluded")
        INCLUDED = "included", _("Face included again")

    How = How

    face = models.ForeignKey(
        Face, verbose_name=_("face"), on_delete=models.DO_NOTHING, db_constraint=False, related_name="label_events"
    )
    idol = models.ForeignKey(
        Idol,
        verbose_name=_("idol"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="label_events",
    )
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    how = models.CharField(_("how"), max_length=16, choices=How.choices)
    exclusion_reason = models.CharField(
        _("exclusion reason"), max_length=16, choices=Face.ExclusionReason.choices, blank=True
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="label_events",
    )
    batch = models.UUIDField(
        _("batch"), db_index=True, help_text=_("Events of one user action share a batch (undone together).")
    )
    undoes = models.ForeignKey(
        "self",
        verbose_name=_("undoes"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="undone_by",
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("label event")
        verbose_name_plural = _("label events")
        indexes = [
            models.Index(fields=["face", "-id"], name="labelevent_face_idx"),
            # labeling.selectors.recent_idols: a user's latest events (the keys 1-9).
            models.Index(fields=["user", "-id"], name="labelevent_user_idx"),
        ]

    def __str__(self) -> str:
        return gettext("%(action)s: face %(face)s, idol %(idol)s") % {
            "action": self.get_action_display(),
            "face": self.face_id,
            "idol": self.idol_id or "—",  # an exclusion names no idol
        }

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("label events are append-only")
        super().save(*args, **kwargs)
        from labeling.signals import labels_changed

        labels_changed.send(sender=LabelEvent, events=[self])

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("label events are append-only")


class DatasetExportQuerySet(models.QuerySet["DatasetExport"]):
    def unfinished(self) -> DatasetExportQuerySet:
        return self.filter(status__in=[DatasetExport.Status.QUEUED, DatasetExport.Status.RUNNING])

    def stale(self, *, seconds: int) -> DatasetExportQuerySet:
        """Running exports silent for ``seconds``: their worker was killed or timed out."""
        from django.utils import timezone

        limit = timezone.now() - timezone.timedelta(seconds=seconds)
        return self.filter(status=DatasetExport.Status.RUNNING, heartbeat_at__lt=limit)


class DatasetExport(models.Model):
    """One export of the labeled faces as a dataset, asked for from the API or the admin and
    written by ``labeling.tasks.export_dataset``: the result is one zip archive in the media
    storage, recorded in ``file`` only once it is complete."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    format = models.CharField(_("format"), max_length=16)
    options = models.JSONField(
        _("options"),
        default=dict,
        blank=True,
        help_text=_('The export\'s options, e.g. {"idols": [3, 5], "min_faces": 10, "split": 0.8, "seed": 0}.'),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(_("faces written"), default=0)
    total = models.PositiveIntegerField(_("faces to write"), default=0)
    error = models.TextField(_("error"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    file = models.FileField(_("file"), max_length=255, blank=True)
    size = models.PositiveBigIntegerField(_("size in bytes"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = DatasetExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("dataset export")
        verbose_name_plural = _("dataset exports")
        constraints = [
            # A file only on a finished export: a crashed one never looks complete.
            models.CheckConstraint(condition=Q(file="") | Q(status="done"), name="datasetexport_file_only_when_done"),
        ]

    def __str__(self) -> str:
        return gettext("Dataset export %(id)s (%(format)s, %(status)s)") % {
            "id": self.pk,
            "format": self.format,
            "status": self.get_status_display().lower(),
        }

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def progress(self) -> float:
        if self.status == self.Status.DONE:
            return 1.0
        return min(self.done / self.total, 1.0) if self.total else 0.0

    @property
    def filename(self) -> str:
        """The name the download is saved under."""
        return f"idolsite-{self.format}-{self.pk}.zip"
