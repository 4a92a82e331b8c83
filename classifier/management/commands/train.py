"""Train a classifier: queued on the training cluster, or right here with --here."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from classifier import services
from classifier.models import TrainingRun
from core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Queue a training on the training cluster (Q_CLUSTER_NAME=training manage.py qcluster). "
        "--wait follows it with a progress bar; --here trains in this process instead."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--epochs", type=int, help="epochs (default: IDOLSITE_TRAINING_EPOCHS)")
        parser.add_argument("--wait", action="store_true", help="follow the run until it ends")
        parser.add_argument("--here", action="store_true", help="train in this process (no task cluster)")
        parser.add_argument("--force", action="store_true", help="train even if no label changed")
        parser.add_argument("--scratch", action="store_true", help="start from random weights (no warm start)")
        parser.add_argument(
            "--recognizer",
            choices=["embedding", "network"],
            help="embedding: a head on the face embeddings (seconds); network: from the pixels "
            "(default: IDOLSITE_RECOGNIZER)",
        )

    def handle(
        self, *args: Any, epochs: int | None, wait: bool, here: bool, force: bool, scratch: bool, **options: Any
    ) -> None:
        try:
            run = services.training_request(
                reason="manage.py train",
                epochs=epochs,
                force=force,
                scratch=scratch,
                recognizer=options.get("recognizer"),
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{run} ({run.reason})")
        if here:
            run.refresh_from_db()
            if run.status == TrainingRun.Status.QUEUED:
                services.training_execute(run_id=run.pk)
            wait = True
        if wait:
            run = self._follow(run, quiet=options["verbosity"] < 1)
            self.stdout.write(f"{run}: {run.note or run.error}")
            if run.status == TrainingRun.Status.FAILED:
                raise CommandError(f"run {run.pk} failed")

    def _follow(self, run: TrainingRun, *, quiet: bool) -> TrainingRun:
        bar = tqdm(total=1000, unit="‰", disable=quiet, bar_format="{l_bar}{bar}| {postfix}")
        waited = 0.0
        while True:
            run.refresh_from_db()
            bar.n = int(run.progress * 1000)
            bar.set_postfix_str(
                f"{run.status} epoch {run.epoch}/{run.epochs} step {run.step}/{run.steps} "
                f"loss {run.loss or 0:.3f} val {run.val_accuracy or 0:.3f} ETA {run.eta_seconds or 0:.0f}s"
            )
            if run.is_finished:
                bar.close()
                return run
            if run.status == TrainingRun.Status.QUEUED and waited > 30 and int(waited) % 30 == 0:
                bar.write("still queued: is the training cluster running? (Q_CLUSTER_NAME=training manage.py qcluster)")
            time.sleep(1.0)
            waited += 1.0
