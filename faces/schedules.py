"""One django-q2 Schedule per enabled Source, at its poll interval, kept in step with the Source."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from faces.models import Source


def schedule_name(source_id: int) -> str:
    return f"crawl-source-{source_id}"


def sync_schedule(source: Source) -> None:
    from django_q.models import Schedule

    name = schedule_name(source.pk)
    minutes = min(source.poll_interval_minutes, 32_767)  # django-q2 stores minutes in a smallint
    if not source.enabled:
        Schedule.objects.filter(name=name).delete()
        return
    schedule, created = Schedule.objects.get_or_create(
        name=name,
        defaults={
            "func": "faces.tasks.crawl_source",
            "args": repr((source.pk,)),
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


def on_source_saved(sender: Any, instance: Source, **kwargs: Any) -> None:
    sync_schedule(instance)


def on_source_deleted(sender: Any, instance: Source, **kwargs: Any) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=schedule_name(instance.pk)).delete()
