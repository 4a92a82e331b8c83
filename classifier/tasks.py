"""Task-queue entry points of the classifier. Plain functions taking primary keys.

``train`` runs on the training cluster only (``Q_CLUSTER_NAME=training manage.py qcluster``,
one worker): ``services.training_request`` enqueues it there. The others are cheap checks for
the default cluster's schedule (see migration 0002_schedules).
"""

from __future__ import annotations

from classifier import services


def train(run_id: int) -> str:
    run = services.training_execute(run_id=run_id)
    if run is None:
        return f"run {run_id} is gone"
    return f"run {run_id}: {run.status} {run.note or run.error[:200]}".strip()


def fail_stale_runs() -> int:
    """Runs whose worker died (no heartbeat) become failed."""
    return services.fail_stale_runs()


def retrain_if_needed() -> int | None:
    """Queue a training once enough label changes arrived (IDOLSITE_RETRAIN_MIN_CHANGES)."""
    services.fail_stale_runs()
    run = services.retrain_if_needed()
    return run.pk if run else None
