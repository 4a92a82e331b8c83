"""Task-queue entry points of the classifier. Plain functions taking primary keys.

``train`` runs on the training cluster only (``Q_CLUSTER_NAME=training manage.py qcluster``,
one worker): ``services.training_request`` enqueues it there. ``suggest`` runs on the default
cluster when a model becomes active and when faces are detected; ``build_clusters`` there too,
at most once a minute, after new embeddings or suggestions. The others are cheap checks
for the default cluster's schedule (see migration 0002_schedules); when to retrain is
``services.retraining``'s to say.
"""

from __future__ import annotations

from classifier import services


def train(run_id: int) -> str:
    run = services.training_execute(run_id=run_id)
    if run is None:
        return f"run {run_id} is gone"
    return f"run {run_id}: {run.status} {run.note or run.error[:200]}".strip()


def suggest(model_version_id: int, face_ids: list[int] | None = None) -> str:
    """Predict every visible face (or ``face_ids``) with the version and store its suggestions;
    then queue a rebuild of the clusters of unknown faces (debounced). A version gone or no
    longer active is left alone: the active one has its own task. Safe to run twice."""
    from classifier.models import ModelVersion
    from classifier.services.clusters import clusters_build_soon
    from classifier.services.suggestions import suggest_faces

    version = ModelVersion.objects.filter(pk=model_version_id, is_active=True).first()
    if version is None:
        return f"model {model_version_id} is gone or not active"
    n = suggest_faces(version=version, face_ids=face_ids)
    # Which faces a model places well changed: the others' clusters follow.
    clusters_build_soon()
    return f"model {model_version_id}: {n} faces suggested"


def build_clusters(*_old_args: object) -> str:
    """Rebuild the clusters of unknown faces from their embeddings; queued by
    ``services.clusters.clusters_build_soon`` (tasks queued before took a model version: ignored)."""
    from classifier.services.clusters import clusters_build

    return f"{len(clusters_build())} clusters"


def fail_stale_runs() -> int:
    """Runs whose worker died (no heartbeat) become failed; faces whose suggest task died with a
    worker are queued again."""
    from classifier.services.suggestions import suggestions_requeue_lost

    failed = services.fail_stale_runs()
    suggestions_requeue_lost()
    return failed


def retrain_if_needed() -> int | None:
    """Queue a training once enough label changes arrived (IDOLSITE_RETRAIN_MIN_CHANGES)."""
    services.fail_stale_runs()
    run = services.retrain_if_needed()
    return run.pk if run else None


def retrain_after_wait() -> str:
    """The check of a training that waited for an import or for the labels to settle (a
    one-off schedule, ``services.retraining.WAIT_SCHEDULE``): it starts now, or waits again."""
    from classifier.services.retraining import retrain_after_wait as check

    services.fail_stale_runs()
    started = check()
    return ", ".join(f"run {run.pk}" for run in started) or "nothing started"
