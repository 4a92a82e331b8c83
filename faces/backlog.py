"""What the pipeline still has to do: photos waiting for detection (or being detected) and faces
waiting for their vector. Read by the home page and by the classifier's rule that no automatic
training starts on half-imported data; every read here is an index range, so both stay cheap
at hundreds of thousands of faces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from faces.models import Face, FaceEmbedding, Photo


def waiting_photos(*, since: datetime | None = None) -> QuerySet[Photo]:
    """Photos waiting for detection or being detected, created after ``since``. Read on the
    partial index of the detection queue: no filter on the trash, whose own index the planner
    would otherwise prefer (a trashed photo still ``new`` is never detected: see
    ``trashed_waiting_photos``)."""
    photos = Photo.all_objects.filter(status=Photo.Status.NEW)
    if since is not None:
        photos = photos.filter(created_at__gte=since)
    return photos.order_by()


def trashed_waiting_photos(*, since: datetime | None = None) -> QuerySet[Photo]:
    """The few photos trashed before their detection (on the trash's index)."""
    photos = Photo.all_objects.filter(trashed_at__isnull=False, status=Photo.Status.NEW)
    if since is not None:
        photos = photos.filter(created_at__gte=since)
    return photos.order_by()


def embedded_frontier(*, embedder: str | None = None) -> int | None:
    """The newest face with a row (vector or failure) of the current model, or None when there
    is none or the model file cannot be read. Faces are embedded in the order they were made, so
    the faces after it are the backlog (one index seek: the model index ends with the face)."""
    from faces.embedders import EmbedderUnavailable
    from faces.selectors import current_model

    try:
        name, model_hash = current_model(embedder)
    except EmbedderUnavailable:
        return None
    return (
        FaceEmbedding.objects.of(embedder=name, model_hash=model_hash)
        .order_by("-face_id")
        .values_list("face_id", flat=True)
        .first()
    )


def _embedder_ready() -> bool:
    from faces.embedders import EmbedderUnavailable
    from faces.selectors import current_model

    try:
        current_model()
    except EmbedderUnavailable:
        return False
    return True


def faces_after(frontier: int | None, *, since: datetime | None = None) -> QuerySet[Face]:
    """Faces made after ``frontier`` (every face when None): those waiting for their vector."""
    faces = Face.objects.order_by()
    if frontier is not None:
        faces = faces.filter(pk__gt=frontier)
    if since is not None:
        faces = faces.filter(created_at__gte=since)
    return faces


@dataclass(frozen=True)
class Busy:
    """Work under way that a training should wait for: photos waiting for detection (or being
    detected) and faces waiting for their vector, each counted up to ``limit``."""

    photos: int
    faces: int

    def __bool__(self) -> bool:
        return bool(self.photos or self.faces)


# The backlogs are counted up to this many rows (enough to say "1,000+", cheap to count).
BUSY_LIMIT = 1_000


def pipeline_busy(*, limit: int = BUSY_LIMIT, now: datetime | None = None) -> Busy:
    """Photos and faces still being imported. Only the automatic work counts: with
    IDOLSITE_AUTO_DETECT off nobody detects waiting photos but the ones claimed (``manage.py
    detect``), with IDOLSITE_AUTO_EMBED off no face waits for a vector. Work older than
    IDOLSITE_TRAINING_MAX_WAIT_SECONDS no longer counts: a queue that does not move (its worker
    is down, the embedder's file missing) must not hold training back for ever."""
    now = now or timezone.now()
    since = now - timedelta(seconds=settings.IDOLSITE_TRAINING_MAX_WAIT_SECONDS)
    if settings.IDOLSITE_AUTO_DETECT:
        n_photos = waiting_photos(since=since)[:limit].count()
        if n_photos:
            n_photos = max(0, n_photos - trashed_waiting_photos(since=since).count())
    else:
        n_photos = waiting_photos(since=since).filter(detection_claimed_at__isnull=False)[:limit].count()
    n_faces = 0
    if settings.IDOLSITE_AUTO_EMBED and _embedder_ready():  # a missing model file embeds nothing
        n_faces = faces_after(embedded_frontier(), since=since)[:limit].count()
    return Busy(photos=n_photos, faces=n_faces)


# The most photos or faces one sweep queues again as lost.
LOST_LIMIT = 1000


def default_queue_empty() -> bool:
    """Whether the default cluster's broker queue holds no task now."""
    from django_q.brokers import get_broker

    return not get_broker().queue_size()
