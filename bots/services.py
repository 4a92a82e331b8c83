"""Writes of the bots: a question recorded once, claimed by one worker, answered or failed."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from bots.answers import Answer
from bots.models import BotAccount, BotQuestion

# A claim older than this is a worker that died mid-answer: another may take the question.
STALE_CLAIM = timedelta(minutes=10)


def question_record(
    *,
    bot: BotAccount,
    external_id: str,
    kind: str = BotQuestion.Kind.IMAGE,
    reply_to: dict | None = None,
    chat: str = "",
) -> BotQuestion | None:
    """The new question, or None when this message was recorded before (a delivery seen twice)."""
    try:
        with transaction.atomic():
            return BotQuestion.objects.create(
                bot=bot, external_id=str(external_id)[:128], kind=kind, reply_to=reply_to or {}, chat=chat[:16]
            )
    except IntegrityError:
        return None


def question_claim(*, question_id: int, stale_after: timedelta = STALE_CLAIM) -> BotQuestion | None:
    """Take a question for answering: only one worker gets it (a conditional UPDATE); None when
    it is answered, failed or being answered. Over the bot's daily limit it is marked limited
    and returned so, for the transport to say so."""
    now = timezone.now()
    open_ = Q(status=BotQuestion.Status.QUEUED) | Q(
        status=BotQuestion.Status.ANSWERING, claimed_at__lt=now - stale_after
    )
    with transaction.atomic():
        taken = BotQuestion.objects.filter(open_, pk=question_id).update(
            status=BotQuestion.Status.ANSWERING, claimed_at=now, attempts=F("attempts") + 1
        )
        if not taken:
            return None
        question = BotQuestion.objects.select_related("bot").get(pk=question_id)
        bot = question.bot
        if bot.daily_limit and bot.answered_today() > bot.daily_limit:
            question.status = BotQuestion.Status.LIMITED
            question.save(update_fields=["status"])
    return question


def question_answered(
    *, question: BotQuestion, text: str, via: str, answer: Answer | None = None, limited: bool = False
) -> None:
    """Record the reply sent; ``limited``: it said the daily limit is reached, and the question
    stays "limited" (not counted as answered today)."""
    now = timezone.now()
    question.status = BotQuestion.Status.LIMITED if limited else BotQuestion.Status.ANSWERED
    question.answered_at = now
    question.latency_ms = max(0, round((now - question.received_at).total_seconds() * 1000))
    question.reply_text = text
    question.reply_via = via
    question.error = ""
    fields = ["status", "answered_at", "latency_ms", "reply_text", "reply_via", "error"]
    if answer is not None:
        question.image_sha256 = answer.image_sha256
        question.faces = len(answer.faces)
        question.answer = answer.as_json()
        fields += ["image_sha256", "faces", "answer"]
    question.save(update_fields=fields)


def question_failed(*, question: BotQuestion, error: str, final: bool = True) -> None:
    """Record why a question was not answered; not final: back in the queue for a retry."""
    question.status = BotQuestion.Status.FAILED if final else BotQuestion.Status.QUEUED
    question.error = error[:2000]
    question.save(update_fields=["status", "error"])


# --- Mastodon's polling: one worker polls a bot at a time; errors pause it -----------------------


def bot_poll_claim(*, bot_id: int, lease: timedelta) -> BotAccount | None:
    """Take an enabled Mastodon bot for one poll, or None when it is paused or another worker
    polls it. ``paused_until`` is the lease as well as the pause after errors: a worker that dies
    mid-poll holds the bot until the lease ends, never two at once."""
    now = timezone.now()
    taken = BotAccount.objects.filter(
        Q(paused_until__isnull=True) | Q(paused_until__lte=now),
        pk=bot_id,
        enabled=True,
        kind=BotAccount.Kind.MASTODON,
    ).update(paused_until=now + lease, last_polled_at=now)
    return BotAccount.objects.filter(pk=bot_id).first() if taken else None


def bot_since_id_save(*, bot: BotAccount, since_id: str) -> None:
    bot.since_id = since_id[:64]
    BotAccount.objects.filter(pk=bot.pk).update(since_id=bot.since_id)


def bot_poll_succeeded(*, bot: BotAccount) -> None:
    """The poll is over: the lease is given back and the count of errors starts again."""
    BotAccount.objects.filter(pk=bot.pk).update(paused_until=None, failures=0, last_error="")


def bot_poll_failed(*, bot: BotAccount, error: str, retry_after: timedelta) -> None:
    """The poll stopped on an error: no poll before ``retry_after`` from now. ``error`` must not
    hold the bot's credentials."""
    bot.failures += 1
    bot.last_error = error[:2000]
    bot.paused_until = timezone.now() + retry_after
    BotAccount.objects.filter(pk=bot.pk).update(
        paused_until=bot.paused_until, failures=F("failures") + 1, last_error=bot.last_error
    )
