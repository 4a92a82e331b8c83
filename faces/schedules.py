"""One django-q2 Schedule per enabled Source, at its poll interval, kept in step with the Source."""

from __future__ import annotations

from typing import Any

from core.schedules import schedule_drop, schedule_keep
from faces.models import Source


def schedule_name(source_id: int) -> str:
    return f"crawl-source-{source_id}"


def sync_schedule(source: Source) -> None:
    schedule_keep(
        name=schedule_name(source.pk),
        func="faces.tasks.crawl_source",
        args=(source.pk,),
        minutes=source.poll_interval_minutes,
        on=source.enabled,
    )


def on_source_saved(sender: Any, instance: Source, **kwargs: Any) -> None:
    sync_schedule(instance)


def on_source_deleted(sender: Any, instance: Source, **kwargs: Any) -> None:
    schedule_drop(schedule_name(instance.pk))
