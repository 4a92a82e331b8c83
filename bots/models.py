"""Bot accounts and the log of the questions they were asked."""

from __future__ import annotations

from datetime import datetime, time

from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from labeling.models import Idol


class BotAccount(models.Model):
    class Kind(models.TextChoices):
        LINE = "line", _("LINE")
        MASTODON = "mastodon", _("Mastodon")

    class Language(models.TextChoices):
        JAPANESE = "ja", _("Japanese")
        ENGLISH = "en", _("English")

    name = models.SlugField(
        _("name"),
        max_length=50,
        unique=True,
        help_text=_("Letters, digits and hyphens; a LINE bot's webhook is /bots/line/<name>/."),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    enabled = models.BooleanField(_("on"), default=True)
    language = models.CharField(_("language of the answers"), max_length=8, choices=Language.choices, default="ja")
    # Write-only: the admin never shows them again, no API serializes them, no log names them.
    secret = models.TextField(_("secret"), blank=True, help_text=_("LINE: the channel secret that signs the webhooks."))
    token = models.TextField(
        _("access token"), blank=True, help_text=_("LINE: the channel access token. Mastodon: the account's token.")
    )
    # A CharField: forms.URLField would guess a scheme for an address typed without one.
    server = models.CharField(
        _("server"),
        max_length=200,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("Mastodon: the instance's address, e.g. https://mastodon.social."),
    )
    threshold = models.FloatField(
        _("threshold"),
        null=True,
        blank=True,
        help_text=_(
            "A face is named only when the model is at least this sure; below, the bot says it does not know. "
            "Empty: from the active model's calibration."
        ),
    )
    top = models.PositiveSmallIntegerField(_("idols per face"), default=3, help_text=_("How many names a face gets."))
    name_former = models.BooleanField(
        _("name graduated and retired idols"),
        default=True,
        help_text=_("Off: a face whose best match has graduated or retired is answered as unknown."),
    )
    hidden_idols = models.ManyToManyField(
        Idol,
        blank=True,
        related_name="+",
        verbose_name=_("idols never named"),
        help_text=_("A face whose best match is one of these is answered as unknown."),
    )
    daily_limit = models.PositiveIntegerField(
        _("daily limit"), default=500, help_text=_("Questions answered a day (Japan time); 0: no limit.")
    )
    # Mastodon's polling: the newest notification seen, and the pause after a rate limit or error.
    since_id = models.CharField(_("last notification seen"), max_length=64, blank=True)
    paused_until = models.DateTimeField(_("paused until"), null=True, blank=True)
    failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    last_polled_at = models.DateTimeField(_("last polled at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("bot")
        verbose_name_plural = _("bots")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold__isnull=True) | Q(threshold__gte=0, threshold__lte=1),
                name="bot_threshold_0_1",
            ),
            models.CheckConstraint(condition=Q(top__gte=1, top__lte=10), name="bot_top_1_10"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def answered_today(self) -> int:
        """Questions answered or being answered since midnight (the site's time zone)."""
        start = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
        busy = (BotQuestion.Status.ANSWERING, BotQuestion.Status.ANSWERED)
        return self.questions.filter(received_at__gte=start, status__in=busy).count()


class BotQuestion(models.Model):
    """One message to a bot and what it answered. ``external_id`` (LINE's webhookEventId, a
    Mastodon status id) is unique per bot: a delivery seen twice is answered once."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        ANSWERING = "answering", _("Answering")
        ANSWERED = "answered", _("Answered")
        LIMITED = "limited", _("Over the daily limit")
        FAILED = "failed", _("Failed")

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        TEXT = "text", _("Text")

    bot = models.ForeignKey(BotAccount, on_delete=models.CASCADE, related_name="questions", verbose_name=_("bot"))
    external_id = models.CharField(_("message id"), max_length=128)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.IMAGE)
    # Where to answer: a LINE reply token and chat, a Mastodon status; never shown in the admin.
    reply_to = models.JSONField(_("reply to"), default=dict, blank=True)
    chat = models.CharField(_("chat"), max_length=16, blank=True, help_text=_("user, group, room or the visibility"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    image_sha256 = models.CharField(_("image SHA-256"), max_length=64, blank=True)
    faces = models.PositiveIntegerField(_("faces"), null=True, blank=True)
    answer = models.JSONField(_("answer"), default=list, blank=True)
    reply_text = models.TextField(_("reply"), blank=True)
    reply_via = models.CharField(_("replied by"), max_length=16, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("bot question")
        verbose_name_plural = _("bot questions")
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["bot", "external_id"], name="bot_question_once")]
        indexes = [models.Index(fields=["bot", "received_at"], name="bot_question_day_idx")]

    def __str__(self) -> str:
        return f"{self.bot.name} {self.external_id}"
