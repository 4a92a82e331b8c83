"""Model versions: a trained model registered (and made active when it is better), activated
or pinned by an admin, deleted; the loaded classifiers, kept in memory per process.

A newly active model's suggestions are queued here (``classifier.tasks.suggest``), once the
activation commits.
"""

from __future__ import annotations

import logging
import math
import secrets
import tempfile
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from classifier.ml.classifier import FORMAT_VERSION, Classifier, IncompatibleModel, read_meta
from classifier.models import ModelVersion, Recognizer
from classifier.services.common import User
from classifier.services.modelfiles import (
    model_files_delete,
    model_files_local,
    model_files_publish,
    model_files_set_aside,
)
from core.errors import Conflict

log = logging.getLogger(__name__)

CHANGED_LABELS_TOLERANCE = 0.01


def clearly_worse(only_active_right: int, only_new_right: int) -> bool:
    """McNemar's test on the faces where exactly one of two models is right: the new model is
    clearly worse when it loses more of them than two standard errors of chance allow."""
    return only_active_right - only_new_right > 2 * math.sqrt(only_active_right + only_new_right)


def model_version_register(*, run_id: int | None, clf: Any, metrics: dict[str, Any]) -> ModelVersion:
    """Write the files, then the row; the new model becomes active when it beats the active one
    on the same faces (``runs._active_on_this_split``; else each on its own split, and a
    change of labels lets the new one be up to CHANGED_LABELS_TOLERANCE worse), unless an admin
    pinned the active one."""
    from classifier.ml.charts import save_evaluation_images
    from classifier.ml.embedding_head import FORMAT_VERSION as EMBEDDING_FORMAT_VERSION

    directory = new_model_directory(run_id)
    # Keras writes to a path: the files are made here, then stored, the manifest last; the row
    # below is the one write that makes them a model (an interrupted upload leaves no row).
    with tempfile.TemporaryDirectory(prefix="idolsite-model-") as work:
        path = Path(work) / directory
        clf.save(path)
        save_evaluation_images(metrics, clf.class_names, clf.history, path, translate=gettext)
        model_files_publish(source=path, directory=directory)
    embedding = getattr(clf, "kind", "") == Recognizer.EMBEDDING
    with transaction.atomic():
        active = ModelVersion.objects.select_for_update().filter(is_active=True).first()
        version = ModelVersion.objects.create(
            run_id=run_id,
            directory=directory,
            format_version=EMBEDDING_FORMAT_VERSION if embedding else FORMAT_VERSION,
            kind=Recognizer.EMBEDDING if embedding else Recognizer.NETWORK,
            embedder=getattr(clf, "embedder", ""),
            model_hash=getattr(clf, "model_hash", ""),
            class_idol_ids=clf.class_idol_ids,
            input_size=clf.input_size,
            fingerprint=clf.fingerprint,
            metrics=clf.metrics,
            val_top1=metrics["top1"] or 0.0,
        )
        same_split = metrics.get("active_on_this_split") or {}
        if (metrics.get("recognizers") or {}).get("chosen") == Recognizer.EMBEDDING:
            pass  # the embedding recognizer was right more often on the same faces: it stays in use
        elif active is None and embedding:
            _activate(version, active)
        elif (
            embedding
            and active is not None
            and active.kind == Recognizer.EMBEDDING
            and active.model_hash == version.model_hash
            and not same_split
        ):
            # Nothing held out to compare on (a handful of labels): the newer labels win.
            if not active.pinned:
                _activate(version, active)
        elif active is not None and same_split.get("version") == active.pk:
            # Both measured on the same faces. With the same labels, the new model must be better;
            # when the labels changed (it learned from more of them), it must not be clearly worse:
            # a face or two either way is chance, and in active learning a model kept for one
            # more round costs a round of stale suggestions.
            if active.fingerprint == version.fingerprint:
                wins = same_split["new_top1"] > same_split["top1"]
            elif embedding and active.kind == Recognizer.EMBEDDING and active.model_hash != version.model_hash:
                # Another embedding model file (IDOLSITE_EMBEDDER_MODEL): it must do at least as
                # well on the user's own faces, never assumed better.
                wins = same_split["new_top1"] >= same_split["top1"]
            else:
                wins = not clearly_worse(same_split["only_active_right"], same_split["only_new_right"])
            if wins and not active.pinned:
                _activate(version, active)
        elif active is None or (not active.pinned and version.val_top1 > active.val_top1):
            _activate(version, active)
        elif (
            not active.pinned
            and active.fingerprint != version.fingerprint
            and version.val_top1 >= active.val_top1 - CHANGED_LABELS_TOLERANCE
        ):
            # The labels changed, so the active model's figure was measured on another set (and
            # it cannot name new idols): take the new model unless it is clearly worse.
            _activate(version, active)
    return version


def _activate(version: ModelVersion, active: ModelVersion | None, *, pin: bool = False) -> None:
    if active is not None and active.pk != version.pk:
        ModelVersion.objects.filter(pk=active.pk).update(is_active=False, pinned=False)
    ModelVersion.objects.filter(pk=version.pk).update(is_active=True, pinned=pin)
    was_active = version.is_active
    version.is_active, version.pinned = True, pin
    if not was_active:  # its suggestions replace the old model's, once this commits
        version_id = version.pk
        transaction.on_commit(lambda: enqueue_suggest(version_id))


@transaction.atomic
def model_version_activate(*, version: ModelVersion, pin: bool = True, user: User = None) -> ModelVersion:
    """An admin makes ``version`` the active model; pinned, new models do not replace it."""
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if version.set_aside:
        raise Conflict(
            gettext("model %(id)s was set aside (corrupt or another format)") % {"id": version.pk}, code="set_aside"
        )
    active = ModelVersion.objects.select_for_update().filter(is_active=True).first()
    _activate(version, active, pin=pin)
    return version


@transaction.atomic
def model_version_unpin(*, version: ModelVersion, user: User = None) -> ModelVersion:
    ModelVersion.objects.filter(pk=version.pk).update(pinned=False)
    version.refresh_from_db()
    return version


def model_version_delete(*, version: ModelVersion, user: User = None) -> None:
    """Delete a version and its files. The active one cannot be deleted: activate another first."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if version.is_active:
            raise Conflict(
                gettext("model %(id)s is active; activate another one first") % {"id": version.pk}, code="active"
            )
        pk, directory = version.pk, version.directory
        version.delete()
    model_files_delete(pk=pk, directory=directory)


# The active model, kept in memory per process: loading a .keras file takes a second or two.
_loaded: dict[str, Classifier] = {}  # the last few models used, by version and folder
_LOADED_KEEP = 4  # the active one and the members of a suggestion ensemble


def load_classifier(version: ModelVersion | None = None) -> Classifier | None:
    """The active model (or ``version``), or None when there is none. A corrupt model or one of
    another format version is set aside and its row marked, so the next run retrains."""
    if version is None:
        version = ModelVersion.objects.active()
        if version is None:
            return None
    key = f"{version.pk}:{version.directory}"
    if key in _loaded:
        _loaded[key] = _loaded.pop(key)  # most recently used last
        return _loaded[key]
    try:
        path = model_files_local(version)
        if version.kind == Recognizer.EMBEDDING:
            from classifier.ml.embedding_head import EmbeddingClassifier

            clf = EmbeddingClassifier.load(path)
        else:
            clf = Classifier.load(path)
    except IncompatibleModel as exc:
        log.warning("model %s cannot be used: %s", version.pk, exc)
        model_files_set_aside(version)
        ModelVersion.objects.filter(pk=version.pk).update(set_aside=True, is_active=False, pinned=False)
        return None
    _loaded[key] = clf
    while len(_loaded) > _LOADED_KEEP:
        _loaded.pop(next(iter(_loaded)))
    return clf


def model_files_problem(version: ModelVersion) -> str | None:
    """Why ``version``'s files could not be loaded, as a short code, or None when they look
    whole: its JSON parses and names this kind and format, and each weight file is there and
    not empty. Reads no weights (no Keras), so the web process can ask it on every readiness
    probe."""
    from classifier.ml import embedding_head
    from classifier.ml.classifier import MODEL_FILE

    try:
        meta = read_meta(version.path)
    except IncompatibleModel:
        return "model_meta_unreadable"
    if version.kind == Recognizer.EMBEDDING:
        kind, expected, files = (
            embedding_head.KIND,
            embedding_head.FORMAT_VERSION,
            [
                embedding_head.HEAD_FILE,
                embedding_head.GALLERY_FILE,
            ],
        )
    else:
        kind, expected, files = Recognizer.NETWORK, FORMAT_VERSION, [MODEL_FILE]
    if meta.get("kind", Recognizer.NETWORK) != kind or meta.get("format_version") != expected:
        return "model_format"
    for name in files:
        try:
            if (version.path / name).stat().st_size == 0:
                return "model_files_missing"
        except OSError:
            return "model_files_missing"
    return None


def predict_stored_faces(clf: Any, face_ids: list[int], crops: list[str]) -> tuple[Any, Any]:
    """A loaded model's class probabilities for stored faces (its own class order), and which
    faces it could read: the network reads every crop; the embedding recognizer reads faces
    whose vector, from its embedder's model file, exists (the others get zeros)."""
    import numpy as np

    if getattr(clf, "kind", "") == Recognizer.EMBEDDING:
        from classifier.dataset import load_vectors

        # Its own model file's vectors, kept by their hash: a recognizer on another embedder
        # (IDOLSITE_EMBEDDER_MODEL changed) is measured against it on the same faces.
        has, vectors = load_vectors(face_ids, embedder=clf.embedder, model_hash=clf.model_hash)
        probabilities = np.zeros((len(face_ids), len(clf.class_idol_ids)), dtype=np.float32)
        if has.any():
            probabilities[has] = clf.predict_vectors(vectors[has]).probabilities
        return probabilities, has
    from classifier.dataset import load_pixels

    probabilities = clf.predict(load_pixels(crops, clf.input_size))
    return np.asarray(probabilities), np.ones(len(face_ids), dtype=bool)


def forget_loaded() -> None:
    _loaded.clear()


def new_model_directory(run_id: int | None) -> str:
    """A folder name no other machine picks: the time, the run and a random part."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    token = secrets.token_hex(3)
    return f"{stamp}-run{run_id}-{token}" if run_id else f"{stamp}-{token}"


def enqueue_suggest(version_id: int, face_ids: list[int] | None = None) -> None:
    from django_q.tasks import async_task

    args: list[Any] = [version_id] if face_ids is None else [version_id, face_ids]
    async_task("classifier.tasks.suggest", *args, task_name=f"suggest-{version_id}")
