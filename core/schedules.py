"""A django-q2 Schedule that follows a row: one task every N minutes while the row wants it."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone


def schedule_keep(*, name: str, func: str, args: tuple, minutes: int, on: bool) -> None:
    """The schedule ``name`` runs ``func(*args)`` every ``minutes`` on the default cluster while
    ``on``; off, it is removed. A changed interval is applied; the next run is kept."""
    from django_q.models import Schedule

    if not on:
        schedule_drop(name)
        return
    minutes = min(minutes, 32_767)  # django-q2 stores minutes in a smallint
    schedule, created = Schedule.objects.get_or_create(
        name=name,
        defaults={
            "func": func,
            "args": repr(args),
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


def schedule_drop(name: str) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=name).delete()
