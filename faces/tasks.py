"""Tasks of the default cluster. Each takes primary keys, fetches the row again, returns
quietly when it is gone, and is safe to run twice."""

from __future__ import annotations

import logging

from django.utils.translation import gettext

from core.errors import DomainError
from core.storage import transient_storage_error
from faces import services
from faces.models import Photo
from faces.services.detection import photo_detection_requeue_lost
from faces.services.embeddings import embedding_requeue_lost

log = logging.getLogger(__name__)


def crawl_source(source_id: int) -> str:
    from faces.crawling import crawl_source as crawl
    from faces.models import Source

    source = Source.objects.filter(pk=source_id, enabled=True).first()
    if source is None:
        return "gone or disabled"
    try:
        return crawl(source=source).summary()
    except DomainError as exc:  # another worker is on it
        log.info("crawl of source %s skipped: %s", source_id, exc)
        return str(exc)


def detect_photo(photo_id: int, detector: str | None = None, redetect: bool = False) -> str:
    """Find the faces of one photo and store them with their crops.

    Safe to run twice and from several workers: the photo is claimed first (a conditional
    UPDATE), so only one worker detects it, and a photo already detected is left alone unless
    ``redetect``. It ends ``detected`` with all its faces, or ``failed`` with a readable error and
    no new face (a storage that does not answer leaves it claimed, for the sweep to queue again).
    Returns what happened, for django-q's task log."""
    from faces.detection import analyze_bytes
    from faces.detectors import DetectorUnavailable

    claim = services.photo_detection_claim(photo_id=photo_id, redetect=redetect)
    if claim is None:
        return (
            f"photo {photo_id}: skipped (gone, trashed, already detected, claimed by a live worker "
            "or interrupted too often)"
        )
    photo = Photo.all_objects.get(pk=photo_id)
    try:
        with photo.image.open("rb") as file:
            data = file.read()
        analysis = analyze_bytes(data, detector=detector)
        photo = services.photo_detection_save(photo=photo, analysis=analysis, claim=claim)
        return f"photo {photo_id}: {len(analysis.faces)} face(s) by {analysis.detector}"
    except DomainError as exc:  # an undecodable image, a face the database refuses, a lost claim
        if exc.code == "claim_lost":
            return str(exc)
        error = str(exc)
    except DetectorUnavailable as exc:
        error = gettext("the detector cannot run: %(error)s") % {"error": exc}
    except OSError as exc:
        error = gettext("the photo's file cannot be read (%(error)s)") % {"error": exc}
    except Exception as exc:  # a bug or a library failure: recorded, the worker goes on
        if transient_storage_error(exc):
            # The bucket did not answer: the claim stays, goes stale, and the sweep queues the
            # photo again (IDOLSITE_DETECT_MAX_ATTEMPTS bounds the tries).
            log.warning("detection of photo %s: the storage did not answer (%s); tried again later", photo_id, exc)
            raise
        log.exception("detection of photo %s failed", photo_id)
        error = gettext("detection failed unexpectedly: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"}
    try:
        services.photo_detection_fail(photo=photo, error=error, claim=claim)
    except DomainError as exc:
        return str(exc)
    return f"photo {photo_id}: failed: {error}"


def sweep_detection_claims() -> str:
    """Queue again the photos whose detecting worker died (a stale claim), or fail those
    interrupted too often (the default cluster's schedule, see migration faces 0006); and the
    photos and faces whose queued task died with a worker."""
    counts = services.photo_detection_sweep()
    lost = {"lost photos requeued": photo_detection_requeue_lost(), "lost faces requeued": embedding_requeue_lost()}
    counts.update({what: n for what, n in lost.items() if n})
    return ", ".join(f"{n} {what}" for what, n in counts.items())


def embed_faces(face_ids: list[int], embedder: str | None = None, retry_failed: bool = False) -> str:
    """Embed the faces among ``face_ids`` that have no vector from the current model yet.

    Safe to run twice: faces with a row for this embedder and model (a vector or a recorded
    failure) are skipped, unless ``retry_failed`` for the failed ones. When the model cannot run
    (a missing or corrupt file) nothing is stored: ``manage.py embed`` does them once fixed."""
    from faces.embedders import EmbedderUnavailable, get_embedder

    try:
        counts = services.face_embeddings_compute(
            face_ids=face_ids, embedder=get_embedder(embedder), retry_failed=retry_failed
        )
    except EmbedderUnavailable as exc:
        log.error("embedding of %s face(s) skipped: the embedder cannot run: %s", len(face_ids), exc)
        return f"the embedder cannot run: {exc}"
    return f"{counts['embedded']} embedded, {counts['failed']} failed, {counts['skipped']} skipped"
