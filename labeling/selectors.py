"""Reads for the labeling pages: the face grid (keyset pagination), what is left to label, the
idols of the digit keys, the photo and idol pages, and the activity list (the typeahead is in
labeling/search.py). Each runs a fixed number of queries, whatever the page size (pinned in
tests/labeling/test_pages*.py)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import Any

from django.core.cache import cache
from django.db.models import (
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Transform,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from core.api import MAX_ID
from faces import similarity
from faces.models import Face, Photo
from labeling.models import FaceLabel, How, Idol, LabelEvent, Membership
from labeling.text import fold

# --- the face grid ----------------------------------------------------------------------------

STATUSES = ("unlabeled", "labeled", "excluded", "all")
SORTS = {
    # sort: (ORDER BY, keyset fields)
    "newest": ("-id",),
    "oldest": ("id",),
    "score": ("score", "id"),  # least sure first: where the false faces are
    "-score": ("-score", "-id"),
}
DEFAULT_PAGE_SIZE = 120
MAX_PAGE_SIZE = 500


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class GridFilters:
    status: str = "unlabeled"
    idol: int | None = None
    group: int | None = None
    source: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    score_min: float | None = None
    score_max: float | None = None
    sort: str = "newest"

    @classmethod
    def from_cleaned(cls, data: Mapping[str, Any]) -> GridFilters:
        """The filters from a validated form's (or filterset's) ``cleaned_data``: the grid page
        and the API read one query string alike."""

        def number(key: str) -> float | None:
            return float(data[key]) if data.get(key) is not None else None

        return cls(
            status=data.get("status") or "unlabeled",
            idol=data.get("idol"),
            group=data.get("group"),
            source=data.get("source"),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            score_min=number("score_min"),
            score_max=number("score_max"),
            sort=data.get("sort") if data.get("sort") in SORTS else "newest",
        )


@dataclass
class GridPage:
    faces: list[Face]
    next_cursor: str | None
    size: int


def _labels_prefetch() -> Prefetch:
    return Prefetch("labels", queryset=FaceLabel.objects.select_related("idol").order_by("id"))


class Unindexed(Transform):
    """A column the filter reads but SQLite must not pick an index for: without statistics its
    planner takes any index on a filtered column and sorts every matching face, where walking
    the grid's order and stopping after one page is far cheaper. ``+column`` is SQLite's way
    to say so; PostgreSQL plans with statistics and sees the plain column."""

    lookup_name = "unindexed"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.lhs)
        return sql, list(params)

    def as_sqlite(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.lhs)
        return f"+{sql}", list(params)

    @property
    def output_field(self) -> Any:
        return self.lhs.output_field


def face_grid_queryset(filters: GridFilters, *, counting: bool = False) -> QuerySet[Face]:
    """Every face the filters select, in the order of their sort, labels not yet fetched.
    ``counting``: for a count, in no order, and SQLite may use any index a filter reads."""
    # Not Face.objects.visible(): its join to the photo lets SQLite's planner start from the
    # photos and sort every face; the few trashed photos are excluded by their ids instead.
    trashed = Photo.all_objects.filter(trashed_at__isnull=False).values("pk")
    faces = Face.objects.filter(excluded=filters.status == "excluded").exclude(photo_id__in=trashed)
    has_label = Exists(FaceLabel.objects.filter(face=OuterRef("pk")))
    if filters.status == "unlabeled":
        faces = faces.filter(~has_label)
    elif filters.status == "labeled":
        faces = faces.filter(has_label)
    if filters.idol is not None:
        faces = faces.filter(pk__in=FaceLabel.objects.filter(idol_id=filters.idol).values("face_id"))
    if filters.group is not None:
        members = Membership.objects.filter(group_id=filters.group).values("idol_id")
        faces = faces.filter(pk__in=FaceLabel.objects.filter(idol_id__in=members).values("face_id"))
    # The page walks the sort's order and stops after a page: an index on a filtered column
    # would make SQLite read every match and sort it. A count reads every match anyway.
    unindexed = (lambda column: F(column)) if counting else (lambda column: Unindexed(F(column)))
    if filters.source is not None:
        photos = Photo.all_objects.filter(source_id=filters.source).values("pk")
        faces = faces.alias(photo_unindexed=unindexed("photo_id")).filter(photo_unindexed__in=photos)
    by_id = filters.sort in ("newest", "oldest") and not counting
    faces = faces.alias(
        created_unindexed=unindexed("created_at"),
        score_filter=Unindexed(F("score")) if by_id else F("score"),
    )
    tz = timezone.get_current_timezone()
    if filters.date_from is not None:
        start = datetime.combine(filters.date_from, time.min, tzinfo=tz)
        # Faces get ids in the order they are added: the first face added on that day bounds
        # the ids to walk (found on the created_at index); the date itself is still checked.
        first = Face.objects.filter(created_at__gte=start).order_by("created_at", "id").values("pk")[:1]
        # No face added since: nothing matches, and the bound says so without a walk.
        faces = faces.filter(pk__gte=Coalesce(Subquery(first), Value(MAX_ID)), created_unindexed__gte=start)
    if filters.date_to is not None:
        end = datetime.combine(filters.date_to, time.max, tzinfo=tz)
        last = Face.objects.filter(created_at__lte=end).order_by("-created_at", "-id").values("pk")[:1]
        faces = faces.filter(pk__lte=Coalesce(Subquery(last), Value(0)), created_unindexed__lte=end)
    if filters.score_min is not None:
        faces = faces.filter(score_filter__gte=filters.score_min)
    if filters.score_max is not None:
        faces = faces.filter(score_filter__lte=filters.score_max)
    return faces.order_by() if counting else faces.order_by(*SORTS[filters.sort])


def encode_cursor(face: Face, sort: str) -> str:
    if sort in ("score", "-score"):
        return f"{face.score!r}_{face.pk}"
    return str(face.pk)


def _after_cursor(faces: QuerySet[Face], cursor: str, sort: str) -> QuerySet[Face]:
    """Keyset pagination: the rows after the last one shown, by the sort's (score, id) or id.
    A new face never shifts the pages already seen (no face is skipped or shown twice)."""
    try:
        if sort in ("score", "-score"):
            score_text, id_text = cursor.split("_", 1)
            score, pk = float(score_text), int(id_text)
        else:
            score, pk = 0.0, int(cursor)
    except ValueError:
        raise BadCursor(f"bad cursor {cursor!r}") from None
    if not (0 <= pk <= MAX_ID and math.isfinite(score)):  # beyond what the database compares
        raise BadCursor(f"bad cursor {cursor!r}")
    if sort == "newest":
        return faces.filter(pk__lt=pk)
    if sort == "oldest":
        return faces.filter(pk__gt=pk)
    # (score, id) after (s, i), written so that both databases seek the (score, id) index to
    # s rather than scan it from the start: score >= s AND (score > s OR id > i).
    if sort == "score":
        return faces.filter(Q(score__gte=score) & (Q(score__gt=score) | Q(pk__gt=pk)))
    return faces.filter(Q(score__lte=score) & (Q(score__lt=score) | Q(pk__lt=pk)))


def face_grid(*, filters: GridFilters, cursor: str | None = None, size: int = DEFAULT_PAGE_SIZE) -> GridPage:
    """One page of the grid: two queries (faces, then their labels with idols)."""
    size = max(1, min(size, MAX_PAGE_SIZE))
    faces = face_grid_queryset(filters)
    if cursor:
        faces = _after_cursor(faces, cursor, filters.sort)
    rows = list(faces.prefetch_related(_labels_prefetch())[: size + 1])
    next_cursor = encode_cursor(rows[size - 1], filters.sort) if len(rows) > size else None
    return GridPage(faces=rows[:size], next_cursor=next_cursor, size=size)


# --- how many faces are left to label ----------------------------------------------------------

UNLABELED_CAP = 1000  # a filtered count stops here: "more than 1,000 unlabeled left"


@dataclass(frozen=True)
class UnlabeledLeft:
    count: int
    more: bool = False  # there are more than ``count`` (a filtered count stopped at its cap)
    filtered: bool = False  # among the faces a source, date or score filter selects


def _count(rows: QuerySet[Any]) -> Subquery:
    # COUNT(*), not COUNT(id): SQLite counts a whole table from its b-tree's page counts.
    return Subquery(rows.order_by().annotate(n=Func(template="COUNT(*)", output_field=IntegerField())).values("n"))


def unlabeled_total() -> int:
    """Unlabeled faces to show and label (not excluded, photo not trashed), exact, in one
    query. Probing the labels of each face is slow at scale; this counts every face on its
    primary key and the labeled ones on the label index, and takes away the few excluded or
    trashed ones with their labels, so its cost grows with the labels rather than the faces."""
    trashed = Photo.all_objects.filter(trashed_at__isnull=False).values("pk")
    has_label = Exists(FaceLabel.objects.filter(face=OuterRef("pk")))
    hidden_excluded = Face.objects.filter(excluded=True)
    hidden_trashed = Face.objects.filter(excluded=False, photo_id__in=trashed)
    row = (
        Face.objects.order_by("pk")
        .annotate(
            n_faces=_count(Face.objects.all()),
            n_excluded=_count(hidden_excluded),
            n_trashed=_count(hidden_trashed),
            n_labeled=Subquery(
                FaceLabel.objects.order_by()
                .annotate(n=Func(F("face_id"), function="COUNT", template="COUNT(DISTINCT %(expressions)s)"))
                .values("n")
            ),
            n_labeled_excluded=_count(hidden_excluded.filter(has_label)),
            n_labeled_trashed=_count(hidden_trashed.filter(has_label)),
        )
        .values("n_faces", "n_excluded", "n_trashed", "n_labeled", "n_labeled_excluded", "n_labeled_trashed")
        .first()
    )
    if row is None:  # no face at all
        return 0
    shown = row["n_faces"] - row["n_excluded"] - row["n_trashed"]
    return shown - (row["n_labeled"] - row["n_labeled_excluded"] - row["n_labeled_trashed"])


UNLABELED_TOTAL_KEY = "labeling:unlabeled-total"
UNLABELED_FRESH_KEY = "labeling:unlabeled-total-fresh"
UNLABELED_TOTAL_SECONDS = 60  # then counted again, in the task queue
UNLABELED_STALE_SECONDS = 3600  # an older count is counted again in the page


def unlabeled_total_kept() -> int:
    """``unlabeled_total`` kept in the cache (Redis when set, shared by every process) and
    moved along by every label event (``unlabeled_delta``, through
    labeling.receivers.keep_unlabeled_total): on PostgreSQL the exact count reads the whole
    face index, too slow for every page. After a minute it is
    counted again by one task while the pages go on showing the kept count, so new, deleted or
    trashed faces (no label event) show within a minute or two and no page waits for the count
    (only the first, or one after an hour without a worker)."""
    value = cache.get(UNLABELED_TOTAL_KEY)
    if value is None:
        return unlabeled_total_recount()
    if cache.add(UNLABELED_FRESH_KEY, True, UNLABELED_TOTAL_SECONDS):  # stale: one recount queued
        from django_q.tasks import async_task

        async_task("labeling.tasks.recount_unlabeled_total")
    return value


def unlabeled_total_recount() -> int:
    """Count the unlabeled faces and keep the count (see ``unlabeled_total_kept``)."""
    value = unlabeled_total()
    cache.set(UNLABELED_TOTAL_KEY, value, UNLABELED_STALE_SECONDS)
    cache.set(UNLABELED_FRESH_KEY, True, UNLABELED_TOTAL_SECONDS)
    return value


def unlabeled_delta(events: list[LabelEvent]) -> int:
    """How many unlabeled faces these label events, just written, added (negative: took away):
    each face's state now against its state before them, replayed backwards from now (the
    services change a face's labels or exclusion first, then write the events saying so).
    Two queries, for the faces the events touch."""
    by_face: dict[int, list[LabelEvent]] = {}
    for event in events:
        by_face.setdefault(event.face_id, []).append(event)
    trashed = Photo.all_objects.filter(trashed_at__isnull=False).values("pk")
    shown = dict(Face.objects.filter(pk__in=list(by_face)).exclude(photo_id__in=trashed).values_list("pk", "excluded"))
    labels: dict[int, set[int]] = {}
    for face_id, idol_id in FaceLabel.objects.filter(face_id__in=list(shown)).values_list("face_id", "idol_id"):
        labels.setdefault(face_id, set()).add(idol_id)
    delta = 0
    for face_id, face_events in by_face.items():
        if face_id not in shown:  # deleted, or on a trashed photo: never counted
            continue
        excluded, idols = shown[face_id], set(labels.get(face_id, ()))
        open_now = not excluded and not idols
        for event in reversed(face_events):
            if event.action == LabelEvent.Action.LABEL_ADDED:
                idols.discard(event.idol_id)
            elif event.action == LabelEvent.Action.LABEL_REMOVED:
                idols.add(event.idol_id)
            elif event.action == LabelEvent.Action.EXCLUDED:
                excluded = False
            elif event.action == LabelEvent.Action.INCLUDED:
                excluded = True
        delta += int(open_now) - int(not excluded and not idols)
    return delta


def unlabeled_left(filters: GridFilters) -> UnlabeledLeft | None:
    """How many unlabeled faces the grid's filters leave (whatever the status shown): exact
    with no filter (kept, see ``unlabeled_total_kept``); with a source, date or score filter, counted up to ``UNLABELED_CAP``
    (an exact count may read every face). None under an idol or group filter, whose faces
    are labeled by definition."""
    if filters.idol is not None or filters.group is not None:
        return None
    narrowed = replace(filters, status="unlabeled", sort="newest")
    if narrowed == GridFilters():
        return UnlabeledLeft(count=unlabeled_total_kept())
    found = face_grid_queryset(narrowed, counting=True)[: UNLABELED_CAP + 1].count()
    return UnlabeledLeft(count=min(found, UNLABELED_CAP), more=found > UNLABELED_CAP, filtered=True)


def faces_with_labels(face_ids: list[int]) -> list[Face]:
    """Faces as the grid shows them, after an action changed their labels."""
    return list(Face.objects.filter(pk__in=face_ids).prefetch_related(_labels_prefetch()).order_by("-id"))


def batch_recorded(batch: uuid.UUID) -> bool:
    """Whether an action changed anything: an action that found everything as it asked (a
    label the face had already) records no event, and there is nothing to undo."""
    return LabelEvent.objects.filter(batch=batch).exists()


def chips(face: Face) -> list[dict[str, Any]]:
    """A face's labels as plain data, for JSON answers (the page's JavaScript renders them
    with textContent, never as HTML)."""
    return [
        {"idol": label.idol_id, "name": label.idol.name, "deleted": label.idol.is_deleted}
        for label in face.labels.all()
    ]


def face_state(face: Face) -> dict[str, Any]:
    return {
        "id": face.pk,
        "labels": chips(face),
        "excluded": face.excluded,
        "exclusion_reason": face.get_exclusion_reason_display() if face.excluded else "",
    }


# --- the idols of the digit keys ---------------------------------------------------------------

RECENT_IDOLS = 9  # the keys 1-9
RECENT_WINDOW = 1000  # the user's latest label events looked at


@dataclass(frozen=True)
class RecentIdol:
    id: int
    name: str
    face: str  # the URL of her newest labeled face's crop, or ""

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "face": self.face}


def recent_idols(*, user: Any, limit: int = RECENT_IDOLS) -> list[RecentIdol]:
    """The idols this user labeled faces with most recently (by hand or by accepting a
    suggestion), distinct, newest first: what the keys 1-9 label with. Graduated and merged
    idols drop out. Two queries (one when there is none): the idols of the user's latest
    ``RECENT_WINDOW`` label events, read backwards on the (user, id) index, so a labeler with
    years of history costs the same; then the first of them still active, with a face each."""
    if not getattr(user, "is_authenticated", False):
        return []
    window = (
        LabelEvent.objects.filter(
            user=user,
            action=LabelEvent.Action.LABEL_ADDED,
            how__in=(LabelEvent.How.MANUAL, LabelEvent.How.SUGGESTION),
        )
        .order_by("-id")
        .values_list("idol_id", flat=True)[:RECENT_WINDOW]
    )
    # Room for some who left since: they drop out below, the next ones move up.
    candidates = list(dict.fromkeys(pk for pk in window if pk is not None))[: limit * 4]
    if not candidates:
        return []
    active = {
        pk: (name, crop)
        for pk, name, crop in Idol.objects.filter(pk__in=candidates)
        .order_by()
        .annotate(face_crop=latest_face_crop())
        .values_list("pk", "name", "face_crop")
    }
    return [RecentIdol(id=pk, name=active[pk][0], face=crop_url(active[pk][1])) for pk in candidates if pk in active][
        :limit
    ]


# --- the idol pictures and counts of the typeahead, idol list and admin ---------------------


def latest_face_crop() -> Subquery:
    """For an idol row (``OuterRef("pk")``): the crop file of her newest labeled face that is
    shown (not excluded, photo not trashed), to put a face beside her name in lists and pickers.
    A subquery per listed idol on the label index (idol, face): no query more per page."""
    faces = FaceLabel.objects.filter(
        idol=OuterRef("pk"), face__excluded=False, face__photo__trashed_at__isnull=True
    ).order_by("-face_id")
    return Subquery(faces.values("face__crop")[:1])


def label_count() -> Coalesce:
    """For an idol row: how many faces are labeled her, counted on the label index (idol, face)
    for each listed idol; a join and GROUP BY would read every label of every idol."""
    counted = FaceLabel.objects.filter(idol=OuterRef("pk")).order_by().values("idol").annotate(c=Count("id"))
    return Coalesce(Subquery(counted.values("c")[:1]), 0)


def crop_url(name: str | None) -> str:
    return Face._meta.get_field("crop").storage.url(name) if name else ""


# --- photo, idol and activity pages -------------------------------------------------------------


def photo_detail(photo_id: int) -> Photo:
    """A photo (trashed ones too) with all its faces, excluded ones included, and their labels."""
    faces = Face.objects.order_by("x", "id").prefetch_related(_labels_prefetch())
    return (
        Photo.all_objects.select_related("source").prefetch_related(Prefetch("faces", queryset=faces)).get(pk=photo_id)
    )


@dataclass
class IdolSummary:
    idol: Idol
    faces: int
    by_how: dict[str, int]
    merged_from: list[Idol]


def idol_detail(idol_id: int) -> IdolSummary:
    idol = (
        Idol.all_objects.select_related("merged_into")
        .prefetch_related("aliases", Prefetch("memberships", queryset=Membership.objects.select_related("group")))
        .get(pk=idol_id)
    )
    counts = FaceLabel.objects.filter(idol=idol).order_by().values_list("how").annotate(n=Count("id"))
    by_how = {FaceLabel.How(how).label.lower(): n for how, n in counts}
    merged_from = list(Idol.all_objects.filter(merged_into=idol).order_by("name"))
    return IdolSummary(idol=idol, faces=sum(by_how.values()), by_how=by_how, merged_from=merged_from)


@dataclass
class SimilarFace:
    """A face near the one asked about (or near an idol's labeled faces), with its labels."""

    face: Face
    distance: float


def _with_labels(neighbours: list[similarity.Neighbour]) -> list[SimilarFace]:
    faces = {f.pk: f for f in faces_with_labels([n.face_id for n in neighbours])}
    return [SimilarFace(face=faces[n.face_id], distance=n.distance) for n in neighbours if n.face_id in faces]


def face_similar(*, face: Face, k: int) -> list[SimilarFace]:
    """The ``k`` visible faces nearest to ``face``, nearest first (409 NoEmbedding without a vector)."""
    return _with_labels(similarity.similar_faces(face=face, k=k))


def idol_similar(
    *, idol: Idol, limit: int, max_distance: float | None = None, unlabeled_only: bool = False
) -> list[SimilarFace]:
    """Her in other photos: visible faces not labeled her (``unlabeled_only``: labeled nobody)
    nearest to her labeled faces, no farther than ``max_distance`` (default
    IDOLSITE_SIMILAR_MAX_DISTANCE), ranked by the distance to her nearest labeled face: with the
    few labels she often has, a mean over several would be pulled away by her other poses and
    looks, and dlib's threshold is meant for one pair of faces. None when she has no labeled
    face; NoEmbedding (409) when none of them has a vector yet."""
    labeled = list(FaceLabel.objects.filter(idol=idol, face__excluded=False).values_list("face_id", flat=True))
    if not labeled:
        return []
    eligible = Face.objects.visible()
    eligible = eligible.filter(labels__isnull=True) if unlabeled_only else eligible.exclude(labels__idol=idol)
    neighbours = similarity.nearest_to_faces(face_ids=labeled, k=limit, max_distance=max_distance, eligible=eligible)
    return _with_labels(neighbours)


# The idol index's tabs: who each shows.
IDOL_LIST_STATUSES = ("active", "graduated", "all")


def idol_list(
    query: str = "", *, include_deleted: bool = False, status: str = "active", limit: int = 300
) -> list[Idol]:
    """The idol index: by name, with label counts, a face (``face_url``) and current groups
    (``current_groups``), so that two idols of one name can be told apart. ``status``: active
    idols, those who graduated or retired (``graduated``), or everyone, merged ones too
    (``all``, as ``include_deleted``). Two queries."""
    if include_deleted or status == "all":
        idols = Idol.all_objects.all()
    elif status == "graduated":
        idols = Idol.all_objects.filter(deletion_reason__in=Idol.RECOGNIZABLE_REASONS)
    else:
        idols = Idol.objects.all()
    for word in fold(query).split():
        idols = idols.filter(search_text__contains=word)
    current = Membership.objects.filter(left__isnull=True).select_related("group").order_by("joined", "id")
    rows = list(
        idols.annotate(n_faces=label_count(), face_crop=latest_face_crop())
        .prefetch_related(Prefetch("memberships", queryset=current, to_attr="current_memberships"))
        .order_by("name", "id")[:limit]
    )
    for idol in rows:
        idol.face_url = crop_url(idol.face_crop)
        idol.current_groups = [m.group.name for m in idol.current_memberships]
    return rows


def idol_list_tabs() -> dict[str, int]:
    """How many idols each tab of the idol index shows, in one query."""
    graduated = Q(deletion_reason__in=Idol.RECOGNIZABLE_REASONS)
    return Idol.all_objects.aggregate(
        active=Count("id", filter=Q(deleted_at__isnull=True)), graduated=Count("id", filter=graduated), all=Count("id")
    )


@dataclass
class Action:
    """One user action in the activity list: the events of one batch."""

    batch: uuid.UUID
    user_id: int | None
    username: str
    created_at: datetime
    events: list[LabelEvent]
    faces: list[Face]
    undone: bool
    summary: str


def recent_actions(*, user_id: int | None = None, limit: int = 50) -> list[Action]:
    """The latest actions, newest first, each with its faces and whether it was undone. Four
    queries: the latest events, the rest of their batches, their faces, the undos."""
    events = LabelEvent.objects.all()
    if user_id is not None:
        events = events.filter(user_id=user_id)
    batches = list(dict.fromkeys(events.order_by("-id").values_list("batch", flat=True)[: limit * 20]))[:limit]
    if not batches:
        return []
    rows = list(LabelEvent.objects.filter(batch__in=batches).select_related("idol", "user").order_by("id"))
    faces = Face.objects.in_bulk({e.face_id for e in rows})
    undone = set(
        LabelEvent.objects.filter(undoes__batch__in=batches).values_list("undoes__batch", flat=True).distinct()
    )
    grouped: dict[uuid.UUID, list[LabelEvent]] = {}
    for event in rows:
        grouped.setdefault(event.batch, []).append(event)
    actions = []
    for batch in batches:
        group = grouped.get(batch, [])
        if not group:
            continue
        first = group[0]
        face_ids = list(dict.fromkeys(e.face_id for e in group))
        actions.append(
            Action(
                batch=batch,
                user_id=first.user_id,
                username=first.user.get_username() if first.user else "",
                created_at=first.created_at,
                events=group,
                faces=[faces[pk] for pk in face_ids if pk in faces][:12],
                undone=batch in undone,
                summary=_summary(group, len(face_ids)),
            )
        )
    return actions


def _summary(events: list[LabelEvent], n_faces: int) -> str:
    """What an action did, as a sentence that follows the user's name: "labeled 2 faces as
    Moa", "undid labeling 2 faces as Moa" (an undo names what it took back). One clause per
    kind of change and idol, in the order they happened (a merge moves labels off one idol and
    onto another)."""
    counts: dict[tuple[str, str, str, str], int] = {}
    for event in events:
        name = ""
        if event.idol_id:
            name = event.idol.name if event.idol else gettext("an idol no longer stored")
        key = (event.action, event.how, name, event.exclusion_reason)
        counts[key] = counts.get(key, 0) + 1
    clauses = [_clause(action, how, name, reason, n) for (action, how, name, reason), n in counts.items()]
    return "; ".join(clauses) or ngettext("changed %(count)s face", "changed %(count)s faces", n_faces) % {
        "count": n_faces
    }


def _clause(action: str, how: str, name: str, reason: str, n: int) -> str:
    added, removed, excluded = (
        LabelEvent.Action.LABEL_ADDED,
        LabelEvent.Action.LABEL_REMOVED,
        LabelEvent.Action.EXCLUDED,
    )
    values = {"count": n, "name": name, "reason": _reason(reason)}
    if action == added:
        if how == How.UNDO:
            text = ngettext(
                "undid removing %(name)s from %(count)s face", "undid removing %(name)s from %(count)s faces", n
            )
        elif how == How.SUGGESTION:
            text = ngettext(
                "accepted the suggestion %(name)s for %(count)s face",
                "accepted the suggestion %(name)s for %(count)s faces",
                n,
            )
        elif how == How.IMPORT:
            text = ngettext("imported %(count)s face of %(name)s", "imported %(count)s faces of %(name)s", n)
        elif how == How.MERGE:
            text = ngettext(
                "moved %(count)s label to %(name)s (idol merge)", "moved %(count)s labels to %(name)s (idol merge)", n
            )
        elif how == How.REDETECT:
            text = ngettext(
                "carried %(name)s over to %(count)s re-detected face",
                "carried %(name)s over to %(count)s re-detected faces",
                n,
            )
        else:
            text = ngettext("labeled %(count)s face as %(name)s", "labeled %(count)s faces as %(name)s", n)
    elif action == removed:
        if how == How.UNDO:
            text = ngettext(
                "undid labeling %(count)s face as %(name)s", "undid labeling %(count)s faces as %(name)s", n
            )
        elif how == How.MERGE:
            text = ngettext(
                "took %(name)s off %(count)s face (idol merge)", "took %(name)s off %(count)s faces (idol merge)", n
            )
        elif how == How.REDETECT:
            text = ngettext(
                "took %(name)s off %(count)s face that re-detection replaced",
                "took %(name)s off %(count)s faces that re-detection replaced",
                n,
            )
        else:
            text = ngettext("removed %(name)s from %(count)s face", "removed %(name)s from %(count)s faces", n)
    elif action == excluded:
        if how == How.UNDO:
            text = ngettext("undid including %(count)s face again", "undid including %(count)s faces again", n)
        elif how == How.REDETECT:
            text = ngettext(
                "kept %(count)s re-detected face excluded (%(reason)s)",
                "kept %(count)s re-detected faces excluded (%(reason)s)",
                n,
            )
        else:
            text = ngettext("excluded %(count)s face (%(reason)s)", "excluded %(count)s faces (%(reason)s)", n)
    elif how == How.UNDO:  # included again, by undoing an exclusion
        text = ngettext("undid excluding %(count)s face", "undid excluding %(count)s faces", n)
    else:
        text = ngettext("included %(count)s face again", "included %(count)s faces again", n)
    return text % values


def _reason(reason: str) -> str:
    """An exclusion's reason as it sits inside a sentence."""
    phrases = {
        Face.ExclusionReason.NOT_A_FACE: gettext("not a face"),
        Face.ExclusionReason.NOT_A_TARGET: gettext("not a target"),
        Face.ExclusionReason.BAD_CROP: gettext("a bad crop"),
    }
    return phrases.get(reason, reason) if reason else gettext("no reason given")
