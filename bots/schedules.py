"""One django-q2 Schedule per enabled Mastodon bot, polling its mentions, kept in step with the bot."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from bots.models import BotAccount


def schedule_name(bot_id: int) -> str:
    return f"mastodon-bot-{bot_id}"


def sync_schedule(bot: BotAccount) -> None:
    from django_q.models import Schedule

    name = schedule_name(bot.pk)
    if not (bot.enabled and bot.kind == BotAccount.Kind.MASTODON):
        Schedule.objects.filter(name=name).delete()
        return
    minutes = settings.IDOLSITE_MASTODON_POLL_MINUTES
    schedule, created = Schedule.objects.get_or_create(
        name=name,
        defaults={
            "func": "bots.tasks.poll_mastodon",
            "args": repr((bot.pk,)),
            "schedule_type": Schedule.MINUTES,
            "minutes": minutes,
            "repeats": -1,
            "next_run": timezone.now(),
            "cluster": settings.Q_CLUSTER["name"],  # the default cluster, never the training one
        },
    )
    if not created and schedule.minutes != minutes:
        schedule.minutes = minutes
        schedule.save(update_fields=["minutes"])


def on_bot_saved(sender: Any, instance: BotAccount, **kwargs: Any) -> None:
    sync_schedule(instance)


def on_bot_deleted(sender: Any, instance: BotAccount, **kwargs: Any) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=schedule_name(instance.pk)).delete()
