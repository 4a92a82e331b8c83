"""Turn due django-q2 schedules into tasks, and nothing else: the one scheduling process of a
deployment whose clusters run with ``IDOLSITE_SCHEDULER`` off (deploy/Procfile)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Queue the tasks of due schedules every INTERVAL seconds until stopped (SIGTERM or Ctrl-C)."

    def add_arguments(self, parser: Any) -> None:
        # A cluster's own scheduler looks about every 30 s: the same here.
        parser.add_argument("--interval", type=float, default=30.0, help="Seconds between looks (default 30).")

    def handle(self, *args: Any, interval: float, **options: Any) -> None:
        from django_q.brokers import get_broker
        from django_q.conf import Conf
        from django_q.scheduler import scheduler

        if interval <= 0:
            raise CommandError("--interval must be above 0")
        # django-q2 hands the schedules of no cluster to the default cluster's scheduler only.
        if Conf.CLUSTER_NAME != Conf.PREFIX:
            raise CommandError(f"run it without Q_CLUSTER_NAME (set to {Conf.CLUSTER_NAME!r})")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        broker = get_broker()
        log.info("scheduler running for cluster %s, every %g s", Conf.CLUSTER_NAME, interval)
        while not stop.is_set():
            scheduler(broker=broker)  # logs its own errors (a database away): the next look retries
            stop.wait(interval)
        log.info("scheduler stopped")
