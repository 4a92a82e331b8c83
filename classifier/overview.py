"""The home page's figures: counts, what runs and what waits, and the next useful action.

Every figure comes from an index range or a table's own count, all of them in one statement,
so the page stays fast at hundreds of thousands of faces: queues are counted up to
``QUEUE_LIMIT`` ("1,000+"), and on PostgreSQL the totals of big tables are the planner's
estimate (a COUNT(*) there reads the whole table)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Exists, F, Func, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from classifier.models import ModelVersion, TrainingRun
from classifier.services.retraining import TrainingWait, first_model, training_wait, wait_recheck_at
from faces.backlog import trashed_waiting_photos, waiting_photos
from faces.models import Face, FaceEmbedding, Photo, Source
from labeling.models import FaceLabel, Idol, LabelEvent

# Queues are counted up to this many rows: beyond it the page says "10,000+".
QUEUE_LIMIT = 1_000
# On PostgreSQL, a table the planner believes this big is counted by its estimate.
ESTIMATE_FROM = 20_000
# Sources listed on the page.
SOURCES_SHOWN = 20


class _CountAll(Func):
    """COUNT(*) as a plain expression: no GROUP BY, so a queryset of it is one scalar subquery."""

    template = "COUNT(*)"
    output_field = IntegerField()
    contains_aggregate = False


def _count_sql(queryset: QuerySet, *, limit: int | None = None) -> tuple[str, list[Any]]:
    """The SQL of a count of ``queryset``'s rows (its own DISTINCT values, if any), or of its
    first ``limit`` rows."""
    queryset = queryset.order_by()
    if limit is None and not queryset.query.distinct:
        sql, params = queryset.values(n=_CountAll()).query.sql_with_params()
        return f"({sql})", list(params)
    if not queryset.query.values_select:
        queryset = queryset.values("pk")
    if limit is not None:
        queryset = queryset[:limit]
    sql, params = queryset.query.sql_with_params()
    return f"(SELECT COUNT(*) FROM ({sql}) AS counted)", list(params)


def _counts(parts: dict[str, tuple[QuerySet, int | None]]) -> dict[str, int]:
    """Many counts in one round trip: SELECT (count 1), (count 2), ..."""
    selects, params = [], []
    for queryset, limit in parts.values():
        sql, more = _count_sql(queryset, limit=limit)
        selects.append(sql)
        params += more
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(selects), params)
        row = cursor.fetchone()
    return {name: int(value or 0) for name, value in zip(parts, row, strict=True)}


def _estimates() -> dict[str, int]:
    """PostgreSQL's own idea of the big tables' sizes (kept by ANALYZE and autovacuum); tables
    it believes small, or never analyzed (-1), are counted exactly. Empty elsewhere."""
    if connection.vendor != "postgresql":
        return {}
    tables = {"photos": Photo._meta.db_table, "faces": Face._meta.db_table}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relname IN %s AND relkind = 'r'",
            [tuple(tables.values())],
        )
        sizes = dict(cursor.fetchall())
    return {name: sizes[table] for name, table in tables.items() if sizes.get(table, -1) >= ESTIMATE_FROM}


@dataclass
class Figures:
    photos: int
    faces: int
    unlabeled: int
    labeled_today_mine: int
    labeled_today: int
    idols: int
    estimated: bool  # photos, faces and unlabeled are the planner's estimates


@dataclass
class Pipeline:
    waiting: int  # photos waiting for detection (being detected ones included)
    detecting: int
    failed: int
    embedding: int | None  # faces without a vector of the current model; None: no model file
    limit: int = QUEUE_LIMIT

    def _shown(self, n: int | None) -> str:
        return f"{n or 0:,}+" if (n or 0) >= self.limit else f"{n or 0:,}"

    @property
    def waiting_shown(self) -> str:
        return self._shown(self.waiting)

    @property
    def embedding_shown(self) -> str:
        return self._shown(self.embedding)


@dataclass
class Training:
    current: TrainingRun | None  # queued or running
    latest: TrainingRun | None
    active: ModelVersion | None
    wait: TrainingWait | None  # what the waiting automatic training waits for
    recheck_at: datetime | None


@dataclass
class Action:
    label: str
    url: str
    primary: bool = False


@dataclass
class Overview:
    figures: Figures
    pipeline: Pipeline
    training: Training
    sources: list[Source]
    actions: list[Action] = field(default_factory=list)


def _today_start() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def _embedding_frontier() -> Subquery | None:
    """The newest face with a row of the current model (a subquery), or None when the model
    file cannot be read (then no backlog is shown)."""
    from faces.embedders import EmbedderUnavailable
    from faces.selectors import current_model

    try:
        name, model_hash = current_model()
    except EmbedderUnavailable:
        return None
    newest = FaceEmbedding.objects.of(embedder=name, model_hash=model_hash).order_by("-face_id").values("face_id")
    return Coalesce(Subquery(newest[:1]), Value(0))


def overview(*, user: Any) -> Overview:
    """Everything the home page shows. Queries: the estimates (PostgreSQL only), one for all
    counts, the latest runs, the active model, the waiting training's schedule, the sources
    (and, only while a training waits, what it waits for)."""
    estimates = _estimates()
    today = LabelEvent.objects.filter(
        created_at__gte=_today_start(),
        action=LabelEvent.Action.LABEL_ADDED,
        how__in=[LabelEvent.How.MANUAL, LabelEvent.How.SUGGESTION],
    )
    trashed = Photo.all_objects.filter(trashed_at__isnull=False)
    labeled = FaceLabel.objects.filter(face=OuterRef("pk"))
    parts: dict[str, tuple[QuerySet, int | None]] = {
        "trashed_photos": (trashed, None),
        "excluded": (Face.objects.filter(excluded=True), None),
        "on_trashed": (Face.objects.filter(excluded=False, photo_id__in=trashed.values("pk")), None),
        # Labeled faces not shown (excluded, or on a trashed photo): taken off "labeled" once.
        # Counted from those faces (a few), not from every label (a join over all of them).
        "labeled_excluded": (Face.objects.filter(Exists(labeled), excluded=True), None),
        "labeled_trashed": (
            Face.objects.filter(Exists(labeled), excluded=False, photo_id__in=trashed.values("pk")),
            None,
        ),
        "today": (today, None),
        "today_mine": (today.filter(user_id=user.pk), None),
        "idols": (Idol.objects.all(), None),
        "waiting": (waiting_photos(), QUEUE_LIMIT),
        "waiting_trashed": (trashed_waiting_photos(), None),
        "detecting": (waiting_photos().filter(detection_claimed_at__isnull=False), QUEUE_LIMIT),
        # Both on their own index (a filter on the trash in the first would take the trash's).
        "failed": (Photo.all_objects.filter(status=Photo.Status.FAILED), None),
        "failed_trashed": (trashed.filter(status=Photo.Status.FAILED), None),
    }
    if "photos" not in estimates:
        parts["all_photos"] = (Photo.all_objects.all(), None)
    if "faces" not in estimates:
        parts["all_faces"] = (Face.objects.all(), None)
        # Exact: a face with two labels counts once.
        parts["labeled"] = (FaceLabel.objects.values("face_id").distinct(), None)
    else:
        # At the estimate's scale a face with two labels (rare) may count twice.
        parts["labeled"] = (FaceLabel.objects.all(), None)
    frontier = _embedding_frontier()
    if frontier is not None:
        parts["embedding"] = (Face.objects.filter(pk__gt=frontier), QUEUE_LIMIT)
    n = _counts(parts)

    photos = estimates.get("photos", n.get("all_photos", 0)) - n["trashed_photos"]
    faces = estimates.get("faces", n.get("all_faces", 0)) - n["excluded"] - n["on_trashed"]
    unlabeled = faces - (n["labeled"] - n["labeled_excluded"] - n["labeled_trashed"])
    figures = Figures(
        photos=max(0, photos),
        faces=max(0, faces),
        unlabeled=max(0, unlabeled),
        labeled_today_mine=n["today_mine"],
        labeled_today=n["today"],
        idols=n["idols"],
        estimated=bool(estimates),
    )
    pipeline = Pipeline(
        waiting=max(0, n["waiting"] - n["waiting_trashed"]),
        detecting=n["detecting"],
        failed=max(0, n["failed"] - n["failed_trashed"]),
        embedding=n.get("embedding") if frontier is not None else None,
        limit=QUEUE_LIMIT,
    )
    training = _training()
    sources = list(
        Source.objects.order_by(F("last_run_at").desc(nulls_last=True), "name").defer("state", "options")[
            :SOURCES_SHOWN
        ]
    )
    result = Overview(figures=figures, pipeline=pipeline, training=training, sources=sources)
    result.actions = next_actions(result)
    return result


def _training() -> Training:
    runs = list(TrainingRun.objects.order_by("-id")[:5])
    current = next((run for run in runs if not run.is_finished), None)
    recheck_at = wait_recheck_at()
    wait = None
    if recheck_at is not None:
        wait = training_wait(first=first_model(settings.IDOLSITE_RECOGNIZER)) or None
    return Training(
        current=current,
        latest=runs[0] if runs else None,
        active=ModelVersion.objects.active(),
        wait=wait,
        recheck_at=recheck_at,
    )


def next_actions(view: Overview) -> list[Action]:
    """The next useful things to do, the most useful first (marked primary)."""
    from django.utils.translation import gettext, ngettext

    figures, pipeline, training = view.figures, view.pipeline, view.training
    feed = reverse("labeling:photos")
    actions: list[Action] = []
    if figures.photos == 0 and pipeline.waiting == 0:
        actions.append(Action(gettext("Upload photos"), feed))
    if pipeline.failed:
        actions.append(
            Action(
                ngettext(
                    "See the %(count)s photo whose detection failed",
                    "See the %(count)s photos whose detection failed",
                    pipeline.failed,
                )
                % {"count": f"{pipeline.failed:,}"},
                f"{feed}?state=failed",
            )
        )
    if training.active is not None and figures.unlabeled:
        actions.append(Action(gettext("Review suggestions"), reverse("classifier:review")))
    if figures.unlabeled:
        actions.append(
            Action(
                ngettext("Label %(count)s face", "Label %(count)s faces", figures.unlabeled)
                % {"count": f"{figures.unlabeled:,}"},
                reverse("labeling:grid") + "?status=unlabeled",
            )
        )
    if (
        training.active is None
        and training.current is None
        and training.wait is None
        and figures.faces > figures.unlabeled
    ):
        actions.append(Action(gettext("Train a model"), reverse("classifier:run_list")))
    if figures.photos:
        actions.append(Action(gettext("Upload more photos"), feed))
    if actions:
        actions[0].primary = True
    return actions
