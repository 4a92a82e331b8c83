"""One django-q2 Schedule per enabled Mastodon bot, polling its mentions, kept in step with the bot."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from bots.models import BotAccount
from core.schedules import schedule_drop, schedule_keep


def schedule_name(bot_id: int) -> str:
    return f"mastodon-bot-{bot_id}"


def sync_schedule(bot: BotAccount) -> None:
    schedule_keep(
        name=schedule_name(bot.pk),
        func="bots.tasks.poll_mastodon",
        args=(bot.pk,),
        minutes=settings.IDOLSITE_MASTODON_POLL_MINUTES,
        on=bot.enabled and bot.kind == BotAccount.Kind.MASTODON,
    )


def on_bot_saved(sender: Any, instance: BotAccount, **kwargs: Any) -> None:
    sync_schedule(instance)


def on_bot_deleted(sender: Any, instance: BotAccount, **kwargs: Any) -> None:
    schedule_drop(schedule_name(instance.pk))
