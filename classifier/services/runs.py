"""Training runs: requesting one, cancelling it, and running it to its end on the training
cluster (``classifier.tasks.train``), with its heartbeat, progress and evaluation."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from classifier.models import ModelVersion, Recognizer, TrainingRun
from classifier.services import versions
from classifier.services.common import User, acting_user
from core.errors import Conflict, DomainError

log = logging.getLogger(__name__)

# Progress and the heartbeat are written at most this often (seconds) while training; a
# running run whose heartbeat is older than IDOLSITE_TRAINING_STALE_SECONDS lost its worker.
PROGRESS_EVERY_SECONDS = 3.0
# The few-shot curve of an embedding training (four more small fits) once this many faces are
# held out: fewer say nothing.
FEWSHOT_MIN_HELD_OUT = 20
# How long a queued embedding training waits for the one before it to finish.
EMBEDDING_WAIT_SECONDS = 120.0


@transaction.atomic
def training_request(
    *,
    reason: str = "manual",
    user: User = None,
    epochs: int | None = None,
    force: bool = False,
    scratch: bool = False,
    recognizer: str | None = None,
) -> TrainingRun:
    """Queue a training of ``recognizer`` (default IDOLSITE_RECOGNIZER): the network on the
    training cluster, the embedding recognizer on the default cluster (seconds). A network run
    already queued, or running with a live worker, is returned instead of queueing a second one;
    an embedding run already queued is returned (it will read the labels when it starts: a burst
    of labels makes one training), one running gets a queued successor. A running run whose
    worker stopped beating is failed first (``fail_stale_runs``). ``scratch``: no warm start
    (``_warm_parent``), the network starts from random weights."""
    recognizer = recognizer or settings.IDOLSITE_RECOGNIZER
    if recognizer not in Recognizer.values:
        raise DomainError(
            gettext("unknown recognizer %(recognizer)r") % {"recognizer": recognizer},
            code="invalid",
            field="recognizer",
        )
    if epochs is not None and not 1 <= epochs <= 1000:
        raise DomainError(gettext("epochs must be between 1 and 1000"), code="invalid", field="epochs")
    fail_stale_runs()
    existing = TrainingRun.objects.select_for_update().unfinished().filter(recognizer=recognizer)
    if recognizer == Recognizer.EMBEDDING:
        existing = existing.filter(status=TrainingRun.Status.QUEUED)
    existing = existing.order_by("id").first()
    if existing is not None:
        return existing
    options: dict[str, Any] = {"force": force}
    if scratch:
        options["scratch"] = True
    if epochs is not None:
        options["epochs"] = epochs
    run = TrainingRun.objects.create(
        reason=reason[:200], requested_by=acting_user(user), options=options, recognizer=recognizer
    )
    transaction.on_commit(lambda: _enqueue(run.pk, recognizer))
    return run


def _enqueue(run_id: int, recognizer: str = Recognizer.NETWORK) -> None:
    from django_q.tasks import async_task

    if recognizer == Recognizer.EMBEDDING:  # seconds: the default cluster, never behind a network
        async_task("classifier.tasks.train", run_id, task_name=f"train-{run_id}")
        return
    # The training cluster's timeout also in sync mode (which would apply the default one).
    timeout = settings.Q_CLUSTER.get("ALT_CLUSTERS", {}).get(settings.TRAINING_CLUSTER, {}).get("timeout")
    async_task(
        "classifier.tasks.train",
        run_id,
        cluster=settings.TRAINING_CLUSTER,
        task_name=f"train-{run_id}",
        **({"timeout": timeout} if timeout else {}),
    )


@transaction.atomic
def training_cancel(*, run: TrainingRun, user: User = None) -> TrainingRun:
    """Stop a run: a queued one is cancelled now; a running one stops within a few seconds,
    at its next check (every PROGRESS_EVERY_SECONDS), and writes nothing."""
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if run.is_finished:
        raise Conflict(
            gettext("run %(id)s has already %(status)s") % {"id": run.pk, "status": run.get_status_display().lower()},
            code="finished",
        )
    if run.status == TrainingRun.Status.QUEUED:
        run.status = TrainingRun.Status.CANCELLED
        run.finished_at = timezone.now()
        run.note = "cancelled before it started"
    run.cancel_requested = True
    run.save(update_fields=["status", "finished_at", "note", "cancel_requested"])
    return run


def fail_stale_runs(*, seconds: int | None = None) -> int:
    """Runs left ``running`` by a worker that died (killed, out of memory, machine gone): no
    heartbeat for IDOLSITE_TRAINING_STALE_SECONDS. They become ``failed`` with the reason; their
    model was never registered, so nothing half-written is used. A worker that was only slow
    finds its run failed at its next heartbeat and stops (``_still_running``)."""
    seconds = settings.IDOLSITE_TRAINING_STALE_SECONDS if seconds is None else seconds
    failed = 0
    for run_id, heartbeat_at in TrainingRun.objects.stale(seconds=seconds).values_list("id", "heartbeat_at"):
        since = f"{heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if heartbeat_at else gettext("it started")
        error = gettext("the worker stopped (no heartbeat since %(since)s, more than %(seconds)s s)") % {
            "since": since,
            "seconds": seconds,
        }
        failed += TrainingRun.objects.filter(
            pk=run_id, status=TrainingRun.Status.RUNNING, heartbeat_at=heartbeat_at
        ).update(status=TrainingRun.Status.FAILED, finished_at=timezone.now(), error=error)
    if failed:
        log.warning("%s training run(s) failed: no heartbeat for %s s", failed, seconds)
    return failed


def _claim(run_id: int) -> bool:
    """Queued -> running, by one conditional UPDATE; the database allows one running run."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return bool(
                TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED, cancel_requested=False).update(
                    status=TrainingRun.Status.RUNNING, started_at=now, heartbeat_at=now, phase="loading"
                )
            )
    except IntegrityError:  # trainingrun_one_running: another training holds the slot
        return False


def _save_progress(run_id: int, **fields: Any) -> None:
    """Progress and the heartbeat, only while the run is running: a run the sweep failed stays
    failed."""
    TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).update(
        heartbeat_at=timezone.now(), **fields
    )


class _Heartbeat:
    """Beats for a run from a thread of the training worker while it loads crops, trains,
    evaluates and saves: the beat says the worker process is alive, whatever phase is slow (a
    million crops take minutes to decode, with no progress to report). A killed worker stops
    beating, and the sweep fails its run."""

    def __init__(self, run_id: int, *, every: float | None = None) -> None:
        self.run_id = run_id
        self.every = every if every is not None else min(30.0, settings.IDOLSITE_TRAINING_STALE_SECONDS / 5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-run-{run_id}", daemon=True)

    def _beat(self) -> None:
        from django.db import connection

        try:
            while not self._stop.wait(self.every):
                try:
                    _save_progress(self.run_id)
                except Exception:  # a busy database now and then: the next beat will do
                    log.debug("heartbeat of run %s not written", self.run_id, exc_info=True)
        finally:
            connection.close()

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _still_running(run_id: int) -> bool:
    """False once the run was cancelled or failed by the sweep (its worker seemed dead)."""
    return TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING, cancel_requested=False).exists()


def _finish(run_id: int, status: str, **fields: Any) -> None:
    """The end of an unfinished run; one already finished (failed by the sweep) is left as is."""
    TrainingRun.objects.filter(pk=run_id, status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]).update(
        status=status, finished_at=timezone.now(), heartbeat_at=timezone.now(), **fields
    )


def training_execute(*, run_id: int) -> TrainingRun | None:
    """Run a queued training to its end (called by ``classifier.tasks.train``). Safe to call
    twice: a run that is not queued is left alone. Returns the run, or None when it is gone."""

    fail_stale_runs()
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    claimed = _claim(run_id)
    if not claimed and run.recognizer == Recognizer.EMBEDDING:
        # The one before it is still training (seconds): this one waits its turn.
        deadline = time.monotonic() + EMBEDDING_WAIT_SECONDS
        while not claimed and time.monotonic() < deadline and _queued(run_id):
            time.sleep(0.5)
            claimed = _claim(run_id)
    if not claimed:
        run.refresh_from_db()
        if run.status == TrainingRun.Status.QUEUED:
            other = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, recognizer=run.recognizer).first()
            error = gettext("another training (%(run)s) was running") % {"run": other}
            _finish(run_id, TrainingRun.Status.FAILED, error=error)
            run.refresh_from_db()
        return run
    work = _run_embedding if run.recognizer == Recognizer.EMBEDDING else _run_claimed
    with _Heartbeat(run_id), _ends_run(run_id):
        work(run, run_id)
    return TrainingRun.objects.get(pk=run_id)


@contextlib.contextmanager
def _ends_run(run_id: int) -> Iterator[None]:
    """How a training that stopped early ends: cancelled, failed with its reason (a domain
    error says it plainly), or failed with the traceback of an unexpected error."""
    from classifier.ml.fitting import TrainingCancelled

    try:
        yield
    except TrainingCancelled:
        _finish(run_id, TrainingRun.Status.CANCELLED, phase="cancelled", note=gettext("cancelled while training"))
    except DomainError as exc:
        _finish(run_id, TrainingRun.Status.FAILED, error=str(exc))
    except Exception as exc:
        log.exception("training run %s failed", run_id)
        _finish(run_id, TrainingRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}")


def _queued(run_id: int) -> bool:
    return TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED, cancel_requested=False).exists()


def _run_claimed(run: TrainingRun, run_id: int) -> None:
    from classifier.dataset import labeled_set, load_pixels
    from classifier.ml.evaluation import evaluate
    from classifier.ml.fitting import TrainingCancelled

    data = labeled_set()
    active = ModelVersion.objects.active()
    _save_progress(
        run_id,
        fingerprint=data.fingerprint,
        n_train=len(data.indices(validation=False)),
        n_validation=len(data.indices(validation=True)),
        n_classes=data.n_classes,
    )
    if not run.options.get("force") and active is not None and active.fingerprint == data.fingerprint:
        note = gettext("nothing changed since the active model")
        _finish(run_id, TrainingRun.Status.SUCCEEDED, phase="done", note=note)
        return
    if data.n_classes < 2:
        raise DomainError(
            gettext("not enough labeled faces: %(classes)s class(es) with at least %(min)s faces (two are needed)")
            % {"classes": data.n_classes, "min": settings.IDOLSITE_MIN_FACES_PER_CLASS},
            code="too_few",
        )
    if not data.indices(validation=True) or not data.indices(validation=False):
        raise DomainError(gettext("too few faces for a training and a validation split"), code="too_few")
    clf = _new_classifier(run.options)
    pixels = load_pixels(data.crops, clf.input_size)
    parent, warm_start = _warm_parent(run, active, clf, data)

    def report(progress: Any) -> None:
        _save_progress(
            run_id,
            phase="training",
            epoch=progress.epoch,
            epochs=progress.epochs,
            step=progress.step,
            steps=progress.steps,
            loss=progress.loss,
            val_accuracy=progress.val_accuracy,
            eta_seconds=progress.eta_seconds,
            history=progress.history,
        )

    def should_cancel() -> bool:
        return not _still_running(run_id)

    clf.train(data, pixels=pixels, report=report, should_cancel=should_cancel, force=True, start_from=parent)
    _save_progress(run_id, phase="evaluating", history=clf.history, eta_seconds=0.0)
    val = data.indices(validation=True)
    probabilities = clf.predict(pixels[val])
    metrics = evaluate(
        probabilities,
        [data.labels[i] for i in val],
        class_idol_ids=data.class_idol_ids,
        class_names=data.class_names,
        face_ids=[data.face_ids[i] for i in val],
    )
    metrics["train_seconds"] = round(clf.train_seconds, 1)
    metrics["left_out"] = data.left_out
    metrics["negatives"] = len(data.negatives)
    metrics["warm_start"] = warm_start
    same_split = _active_on_this_split(
        active, data.face_ids, data.crops, data.class_idol_ids, val, data.labels, probabilities
    )
    if same_split is not None:
        metrics["active_on_this_split"] = same_split
    _save_progress(run_id, phase="comparing")
    both = _embedding_on_this_split(data, val, probabilities)
    if both is not None:
        metrics["recognizers"] = both
    clf.metrics = {k: metrics[k] for k in ("top1", "top5", "n_validation", "train_seconds", "warm_start")}
    if should_cancel():
        raise TrainingCancelled("training was cancelled")
    _save_progress(run_id, phase="saving")
    version = versions.model_version_register(run_id=run_id, clf=clf, metrics=metrics)
    if version.is_active:
        note = gettext("model %(id)s (now active)") % {"id": version.pk}
    elif (both or {}).get("chosen") == Recognizer.EMBEDDING:
        note = gettext(
            "model %(id)s (not active: on the same %(faces)s faces the embedding recognizer was right on "
            "%(embedding)s, this network on %(network)s)"
        ) % {
            "id": version.pk,
            "faces": both["faces"],
            "embedding": f"{both['embedding_top1']:.1%}",
            "network": f"{both['network_top1']:.1%}",
        }
        if not ModelVersion.objects.filter(is_active=True, kind=Recognizer.EMBEDDING).exists():
            training_request(
                reason=f"network run {run_id} chose the embedding recognizer", recognizer=Recognizer.EMBEDDING
            )
    else:
        note = gettext("model %(id)s (not better than the active one)") % {"id": version.pk}
    _finish(
        run_id,
        TrainingRun.Status.SUCCEEDED,
        phase="done",
        metrics=metrics,
        val_accuracy=metrics["top1"],
        note=note,
    )


def _run_embedding(run: TrainingRun, run_id: int) -> None:
    """The embedding recognizer: read the labeled faces' vectors, fit the head, measure it on
    the held-out faces (and the active model on the same faces), register it."""

    from classifier.dataset import embedding_set
    from classifier.ml.embedding_head import EmbeddingClassifier, HeadRecipe
    from classifier.ml.evaluation import evaluate
    from classifier.ml.fitting import TrainingCancelled
    from faces.selectors import current_model

    name, model_hash = current_model()
    data, vectors, negatives = embedding_set()
    fingerprint = embedding_fingerprint(data.fingerprint, name, model_hash)
    val = data.indices(validation=True)
    _save_progress(
        run_id,
        phase="training",
        fingerprint=fingerprint,
        n_train=len(data) - len(val),
        n_validation=len(val),
        n_classes=data.n_classes,
    )
    newest = (
        ModelVersion.objects.filter(kind=Recognizer.EMBEDDING, set_aside=False).order_by("-created_at", "-id").first()
    )
    if not run.options.get("force") and newest is not None and newest.fingerprint == fingerprint:
        note = gettext("nothing changed since the last model")
        _finish(run_id, TrainingRun.Status.SUCCEEDED, phase="done", note=note)
        return
    if data.n_classes < 2:
        raise DomainError(
            gettext("not enough labeled faces with an embedding: %(classes)s idol(s) (two are needed)")
            % {"classes": data.n_classes},
            code="too_few",
        )
    other = data.class_idol_ids.index(None) if None in data.class_idol_ids else None
    clf = EmbeddingClassifier(
        HeadRecipe(false_accept=settings.IDOLSITE_EMBEDDING_FALSE_ACCEPT), embedder=name, model_hash=model_hash
    )
    held = clf.train(
        vectors,
        data.labels,
        class_idol_ids=data.class_idol_ids,
        class_names=data.class_names,
        validation=data.validation,
        fingerprint=fingerprint,
        other_class=other,
        negatives=negatives,
        should_cancel=lambda: not _still_running(run_id),
    )
    _save_progress(run_id, phase="evaluating", history=clf.history, eta_seconds=0.0)
    if held.probabilities is not None:
        val = [int(i) for i in held.indices]  # less the faces of idols with none to train on
        metrics = evaluate(
            held.probabilities,
            [data.labels[i] for i in val],
            class_idol_ids=data.class_idol_ids,
            class_names=data.class_names,
            face_ids=[data.face_ids[i] for i in val],
        )
    else:  # every face on the training side (a handful of labels): nothing held out
        metrics = {"top1": None, "top5": None, "n_validation": 0, "per_class": [], "confused_pairs": []}
    metrics["recognizer"] = Recognizer.EMBEDDING.value
    metrics["open_set"] = held.figures
    if len(val) >= FEWSHOT_MIN_HELD_OUT:
        from classifier.ml.embedding_head import fewshot_curve

        metrics["fewshot"] = fewshot_curve(vectors, data.labels, data.validation, recipe=clf.recipe)
    metrics["train_seconds"] = round(clf.train_seconds, 2)
    metrics["left_out"] = data.left_out
    metrics["negatives"] = len(data.negatives)
    active = ModelVersion.objects.active()
    if held.probabilities is not None:
        same_split = _active_on_this_split(
            active, data.face_ids, data.crops, data.class_idol_ids, val, data.labels, held.probabilities
        )
        if same_split is not None:
            metrics["active_on_this_split"] = same_split
    clf.metrics = {k: metrics.get(k) for k in ("top1", "top5", "n_validation", "train_seconds", "open_set")}
    if not _still_running(run_id):
        raise TrainingCancelled("training was cancelled")
    _save_progress(run_id, phase="saving")
    version = versions.model_version_register(run_id=run_id, clf=clf, metrics=metrics)
    _finish(
        run_id,
        TrainingRun.Status.SUCCEEDED,
        phase="done",
        metrics=metrics,
        val_accuracy=metrics["top1"],
        note=(
            gettext("model %(id)s (now active)")
            if version.is_active
            else gettext("model %(id)s (not better than the active one)")
        )
        % {"id": version.pk},
    )


def embedding_fingerprint(data_fingerprint: str, embedder: str, model_hash: str) -> str:
    """The labeled set and the embedder's model file: new vectors are new data."""
    import hashlib

    return hashlib.sha256(f"{data_fingerprint}:{embedder}:{model_hash}".encode()).hexdigest()


def _warm_parent(
    run: TrainingRun, active: ModelVersion | None, clf: Any, data: Any
) -> tuple[Any, dict[str, Any] | None]:
    """The classifier a training starts from, and what its metrics say of it: the active model
    when it has the same idols and network, unless the run asked for ``scratch``, warm starts
    are off (``IDOLSITE_TRAINING_WARM_CHAIN`` 0), or the trainings before this one were that
    many warm starts in a row: then one from scratch, so that the weights are renewed now and
    then. The chain counts trainings, not models: a model from scratch that was not better than
    the active one still ends the chain, and the next trainings start from the active one again
    (not one slow training from scratch after another). ``(None, None)``: from scratch."""
    chain = settings.IDOLSITE_TRAINING_WARM_CHAIN
    if active is None or run.options.get("scratch") or not chain:
        return None, None
    previous = (
        TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED, pk__lt=run.pk, metrics__has_key="top1")
        .order_by("-pk")
        .first()
    )
    last = ((previous.metrics or {}).get("warm_start") or {}) if previous else {}
    generation = last.get("generation", 0) + 1
    if generation > chain:
        return None, None
    try:
        parent = _comparison_classifier(active)
    except Exception:  # a model that cannot be loaded is never the reason a training fails
        log.exception("model %s could not start a training", active.pk)
        return None, None
    if parent is None or not clf.can_start_from(parent, data.class_idol_ids):
        return None, None
    return parent, {"from": active.pk, "generation": generation}


def _comparison_classifier(version: ModelVersion) -> Any:
    return versions.load_classifier(version)


def _embedding_on_this_split(data: Any, val: list[int], probabilities: Any) -> dict[str, Any] | None:
    """The network against the embedding recognizer on the same faces: a head trained on this
    run's training side (faces with a vector), both measured on its validation faces that have
    one. The better on the user's own faces is the one to use: ``chosen``, and why."""
    import numpy as np

    from classifier.dataset import load_vectors
    from classifier.ml.embedding_head import EmbeddingClassifier, HeadRecipe

    try:
        has, vectors = load_vectors(data.face_ids)
    except Exception:  # no embedder here: the network is measured alone
        log.exception("the embedding recognizer could not be compared")
        return None
    labels = np.asarray(data.labels)
    on_val = np.asarray(data.validation, dtype=bool)
    train = has & ~on_val
    if len(np.unique(labels[train])) < data.n_classes or not (has & on_val).any():
        return None  # an idol without a vector on the training side: the head could not name her
    head = EmbeddingClassifier(HeadRecipe(false_accept=settings.IDOLSITE_EMBEDDING_FALSE_ACCEPT))
    other = data.class_idol_ids.index(None) if None in data.class_idol_ids else None
    head.train(
        vectors[train],
        labels[train],
        class_idol_ids=data.class_idol_ids,
        class_names=data.class_names,
        validation=np.zeros(int(train.sum()), dtype=bool),
        other_class=other,
    )
    readable = has[val]
    truth = labels[val][readable]
    network_right = np.asarray(probabilities)[readable].argmax(axis=1) == truth
    embedding_right = head.predict_vectors(vectors[val][readable]).probabilities.argmax(axis=1) == truth
    network, embedding = float(network_right.mean()), float(embedding_right.mean())
    # Ties go to the embedding recognizer: it retrains in seconds and learns new idols at once.
    chosen = "network" if network > embedding else "embedding"
    return {
        "faces": int(readable.sum()),
        "network_top1": round(network, 4),
        "embedding_top1": round(embedding, 4),
        "only_network_right": int((network_right & ~embedding_right).sum()),
        "only_embedding_right": int((embedding_right & ~network_right).sum()),
        "chosen": chosen,
    }


def _active_on_this_split(
    active: ModelVersion | None,
    face_ids: list[int],
    crops: list[str],
    class_idol_ids: list[int | None],
    val: list[int],
    labels: list[int],
    probabilities: Any,
) -> dict[str, Any] | None:
    """Both models' top-1 on the same faces: this run's validation faces, less those labeled by
    accepting the active model's own suggestions (it chose them because it was sure of them: on
    them it is right by construction), and less those it cannot read (an embedding model and a
    face without a vector). Each run's split holds the faces labeled by then, so the figures of
    two runs are not comparable. ``probabilities``: the new model's on ``val``. None when there
    is no active model, it is pinned, it cannot be loaded, or no face is left."""
    import numpy as np

    from classifier.models import Suggestion

    if active is None or active.pinned or not val:
        return None
    chosen = set(
        Suggestion.objects.filter(model_version=active, status=Suggestion.Status.ACCEPTED).values_list(
            "face_id", flat=True
        )
    )
    keep = [n for n, i in enumerate(val) if face_ids[i] not in chosen]
    if not keep:
        return None
    try:
        clf = _comparison_classifier(active)
    except Exception:  # a model that cannot be used is never the reason a training fails
        log.exception("model %s could not be compared", active.pk)
        return None
    if clf is None:
        return None
    faces = [val[n] for n in keep]
    theirs, readable = versions.predict_stored_faces(clf, [face_ids[i] for i in faces], [crops[i] for i in faces])
    if not readable.any():
        return None
    truth = [class_idol_ids[labels[i]] for i in faces]

    def right(ids: list[int | None], outputs: Any) -> Any:  # -> bool array, a face each
        return np.array([ids[int(p)] == t for p, t in zip(outputs.argmax(axis=1), truth, strict=True)])

    active_right = right(clf.class_idol_ids, theirs)[readable]
    new_right = right(class_idol_ids, np.asarray(probabilities)[keep])[readable]
    return {
        "version": active.pk,
        "kind": active.kind,
        "faces": int(readable.sum()),
        "top1": round(float(active_right.mean()), 4),
        "new_top1": round(float(new_right.mean()), 4),
        "only_active_right": int((active_right & ~new_right).sum()),
        "only_new_right": int((new_right & ~active_right).sum()),
    }


def _new_classifier(options: dict[str, Any]) -> Any:
    from dataclasses import replace

    from classifier import dataset
    from classifier.ml.classifier import Classifier
    from classifier.ml.recipe import Recipe

    recipe = Recipe(epochs=settings.IDOLSITE_TRAINING_EPOCHS, min_steps=settings.IDOLSITE_TRAINING_MIN_STEPS)
    if options.get("epochs"):
        recipe = replace(recipe, epochs=int(options["epochs"]))
    return Classifier(recipe, load_pixels=dataset.load_pixels)
