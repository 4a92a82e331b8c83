"""Prometheus metrics at ``/metrics``: the requests this process served (a middleware) and the
pipeline's state read from the database and the broker when scraped.

Why from the database: photos are detected, faces embedded and trainings run by the workers,
often on other machines, and the web process that answers a scrape never sees those events.
The database sees them all, so every web process answers the same figures. Each figure is an
indexed read (a primary-key range, a partial index, a small table), so a scrape costs a fixed
handful of queries however big the tables grow (``tests/ops/test_metrics.py`` pins the number).

Totals of append-only rows (labels added, faces embedded, photos) are counters: what was
counted before a "settled" mark (rows older than ``SETTLE_SECONDS``, whose transactions have
ended) is kept in the cache, and each scrape counts only the rows past it. Prometheus's
``rate()`` turns them into per-minute figures.

Request counts and latencies live in this process's memory (``prometheus_client``); under a
server with several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` (an empty folder per host,
emptied at each start) so that a scrape of any of them sums them all.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from idolsite.signin import client_ip

# Rows younger than this may belong to a transaction still open (a task runs at most
# IDOLSITE_TASK_TIMEOUT): they are counted afresh at each scrape, never kept.
SETTLE_SECONDS = 600
# Marks of the newest row id kept in the cache, at most one per MARK_EVERY seconds.
MARK_EVERY = 30
MARKS_KEPT = 64
# Sources reported (each is a few series); an installation has tens of them.
SOURCES_MAX = 500
CACHE_PREFIX = "metrics:total:"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "idolsite_http_requests_total",
    "HTTP requests answered, by route name, method and status class.",
    ["view", "method", "status"],
)
LATENCY = Histogram(
    "idolsite_http_request_duration_seconds",
    "Time to answer an HTTP request, by route name and method.",
    ["view", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


# --- access ---------------------------------------------------------------------------------


def metrics_enabled() -> bool:
    return bool(settings.IDOLSITE_METRICS_TOKEN or settings.IDOLSITE_METRICS_ALLOW)


def _bearer(request: HttpRequest) -> str:
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _allowed_address(request: HttpRequest) -> bool:
    address = client_ip(request)  # REMOTE_ADDR, or the client the trusted proxies saw
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(entry, strict=False) for entry in settings.IDOLSITE_METRICS_ALLOW)


def _token_matches(request: HttpRequest) -> bool:
    expected = settings.IDOLSITE_METRICS_TOKEN
    given = _bearer(request)
    return bool(expected and given) and hmac.compare_digest(given.encode(), expected.encode())


# --- requests ---------------------------------------------------------------------------------


class RequestMetricsMiddleware:
    """Counts every request and its latency by the route's name (``labeling:grid``,
    ``api:face-detail``), never by its path, so that ids in URLs do not make a series each.
    First in the chain: the time includes every other middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or "unnamed") if match else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        REQUESTS.labels(view, method, f"{response.status_code // 100}xx").inc()
        LATENCY.labels(view, method).observe(time.perf_counter() - started)
        return response


# --- the pipeline, read from the database -------------------------------------------------------


def settled_total(key: str, model: type[Model], queryset: QuerySet, *, group: str | None = None) -> dict[str, int]:
    """The rows of ``queryset`` (of an append-only ``model``) by ``group``'s value ("" without
    one): the part older than a settled mark from the cache, the rest counted now on the
    primary key. Queries: the newest id, the rows past the mark and, when the mark moves on, the
    rows between the old mark and the new one."""
    now = time.time()
    state = cache.get(CACHE_PREFIX + key) or {"upto": 0, "settled": {}, "marks": []}
    upto, settled, marks = state["upto"], dict(state["settled"]), list(state["marks"])
    newest = model._base_manager.order_by("-pk").values_list("pk", flat=True).first() or 0
    if newest < upto:  # ids went back (a restored or new database): count afresh
        upto, settled, marks = 0, {}, []
    ripe = [mark for at, mark in marks if at <= now - SETTLE_SECONDS and mark > upto]
    if ripe:
        mark = max(ripe)
        for name, n in _grouped(queryset.filter(pk__gt=upto, pk__lte=mark), group).items():
            settled[name] = settled.get(name, 0) + n
        upto = mark
    totals = dict(settled)
    for name, n in _grouped(queryset.filter(pk__gt=upto), group).items():
        totals[name] = totals.get(name, 0) + n
    marks = [(at, mark) for at, mark in marks if mark > upto]
    if newest > upto and (not marks or marks[-1][0] <= now - MARK_EVERY):
        marks.append((now, newest))
    cache.set(CACHE_PREFIX + key, {"upto": upto, "settled": settled, "marks": marks[-MARKS_KEPT:]}, None)
    return totals


def forget_totals() -> None:
    """Drop the kept parts of the totals (tests; a database swapped under a running site)."""
    cache.delete_many([CACHE_PREFIX + key for key in ("photos", "embedded", "labels", "detected")])


def _grouped(queryset: QuerySet, group: str | None) -> dict[str, int]:
    if group is None:
        return {"": queryset.order_by().count()}
    rows = queryset.order_by().values_list(group).annotate(n=Count("pk"))
    return {str(value): n for value, n in rows}


def queue_lengths() -> dict[str, int]:
    """Tasks waiting in each cluster's queue, from the broker (a Redis list's length, or the
    ORM broker's unclaimed rows)."""
    from django_q.brokers import get_broker

    clusters = {"default": settings.Q_CLUSTER["name"], "training": settings.TRAINING_CLUSTER}
    lengths = {}
    for cluster, list_key in clusters.items():
        broker = get_broker(list_key)
        try:
            lengths[cluster] = int(broker.queue_size() or 0)
        finally:
            close = getattr(broker.connection, "close", None)
            if settings.IDOLSITE_REDIS_URL and close is not None:
                close()
    return lengths


class PipelineCollector:
    """The pipeline's figures, read when scraped."""

    def collect(self) -> Iterator[Metric]:
        yield from self._photos_faces_labels()
        yield from self._queues()
        yield from self._training()
        yield from self._sources()

    def _photos_faces_labels(self) -> Iterator[Metric]:
        from faces.models import FaceEmbedding, Photo
        from labeling.models import LabelEvent

        photos = Photo.all_objects
        created = settled_total("photos", Photo, photos.all()).get("", 0)
        by_status = dict(
            photos.filter(status__in=[Photo.Status.NEW, Photo.Status.FAILED])
            .order_by()
            .values_list("status")
            .annotate(n=Count("pk"))
        )
        waiting, failed = by_status.get(Photo.Status.NEW, 0), by_status.get(Photo.Status.FAILED, 0)
        # Every photo stored and not waiting nor failed went through detection; kept from going
        # down (a photo sent back to detection) so that Prometheus never sees a counter reset.
        detected = max(created - waiting - failed, cache.get(CACHE_PREFIX + "detected") or 0)
        cache.set(CACHE_PREFIX + "detected", detected, None)
        yield CounterMetricFamily("idolsite_photos_stored", "Photos stored (every way in).", value=created)
        yield CounterMetricFamily("idolsite_photos_detected", "Photos whose detection finished.", value=detected)
        yield GaugeMetricFamily("idolsite_photos_waiting", "Photos waiting for detection.", value=waiting)
        yield GaugeMetricFamily("idolsite_photos_failed", "Photos whose detection failed.", value=failed)

        embedded = settled_total("embedded", FaceEmbedding, FaceEmbedding.objects.filter(dimension__gt=0))
        yield CounterMetricFamily(
            "idolsite_faces_embedded", "Faces given an embedding vector.", value=embedded.get("", 0)
        )

        labels = settled_total(
            "labels", LabelEvent, LabelEvent.objects.filter(action=LabelEvent.Action.LABEL_ADDED), group="how"
        )
        family = CounterMetricFamily("idolsite_labels_added", "Labels added, by how.", labels=["how"])
        for how in LabelEvent.How.values:
            family.add_metric([how], labels.get(how, 0))
        yield family

    def _queues(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "idolsite_queue_length", "Tasks waiting in a task cluster's queue.", labels=["cluster"]
        )
        for cluster, n in queue_lengths().items():
            family.add_metric([cluster], n)
        yield family

    def _training(self) -> Iterator[Metric]:
        from classifier.models import Recognizer, TrainingRun

        counts = {
            (recognizer, status): n
            for recognizer, status, n in TrainingRun.objects.order_by()
            .values_list("recognizer", "status")
            .annotate(n=Count("pk"))
        }
        runs = GaugeMetricFamily(
            "idolsite_training_runs", "Training runs, by recognizer and status.", labels=["recognizer", "status"]
        )
        for recognizer in Recognizer.values:
            for status in TrainingRun.Status.values:
                runs.add_metric([recognizer, status], counts.get((recognizer, status), 0))
        yield runs

        duration = GaugeMetricFamily(
            "idolsite_training_last_duration_seconds",
            "How long the latest finished training ran, by recognizer.",
            labels=["recognizer"],
        )
        succeeded = GaugeMetricFamily(
            "idolsite_training_last_succeeded",
            "1 when the latest finished training succeeded, 0 when it failed or was cancelled.",
            labels=["recognizer"],
        )
        finished_at = GaugeMetricFamily(
            "idolsite_training_last_finished_timestamp_seconds",
            "When the latest finished training ended (Unix time).",
            labels=["recognizer"],
        )
        for recognizer in Recognizer.values:
            last = (
                TrainingRun.objects.filter(recognizer=recognizer, finished_at__isnull=False)
                .order_by("-finished_at")
                .values("status", "started_at", "finished_at")
                .first()
            )
            if last is None:
                continue
            if last["started_at"]:
                duration.add_metric([recognizer], (last["finished_at"] - last["started_at"]).total_seconds())
            succeeded.add_metric([recognizer], 1 if last["status"] == TrainingRun.Status.SUCCEEDED else 0)
            finished_at.add_metric([recognizer], last["finished_at"].timestamp())
        yield duration
        yield succeeded
        yield finished_at

    def _sources(self) -> Iterator[Metric]:
        from faces.models import Source

        rows = Source.objects.order_by("pk").values(
            "pk", "name", "kind", "enabled", "last_error", "failed_count", "last_success_at"
        )[:SOURCES_MAX]
        labels = ["source", "name", "kind"]
        failed = CounterMetricFamily("idolsite_source_failed_items", "Items a source failed to fetch.", labels=labels)
        error = GaugeMetricFamily(
            "idolsite_source_error", "1 when the source's latest crawl ended in an error.", labels=labels
        )
        enabled = GaugeMetricFamily("idolsite_source_enabled", "1 when the source is crawled.", labels=labels)
        success = GaugeMetricFamily(
            "idolsite_source_last_success_timestamp_seconds",
            "When the source's latest crawl succeeded (Unix time).",
            labels=labels,
        )
        for row in rows:
            names = [str(row["pk"]), row["name"], row["kind"]]
            failed.add_metric(names, row["failed_count"])
            error.add_metric(names, 1 if row["last_error"] else 0)
            enabled.add_metric(names, 1 if row["enabled"] else 0)
            if row["last_success_at"]:
                success.add_metric(names, row["last_success_at"].timestamp())
        yield from (failed, error, enabled, success)


def exposition() -> bytes:
    """The text Prometheus reads: this process's (or, in multiprocess mode, every process's)
    request metrics, then the pipeline's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        requests = CollectorRegistry()
        multiprocess.MultiProcessCollector(requests)
    else:
        requests = REGISTRY
    pipeline = CollectorRegistry(auto_describe=False)
    pipeline.register(PipelineCollector())
    return generate_latest(requests) + generate_latest(pipeline)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """``/metrics`` for a bearer token (``IDOLSITE_METRICS_TOKEN``) or an address of
    ``IDOLSITE_METRICS_ALLOW``; neither set: metrics are off and the URL does not exist."""
    if not metrics_enabled():
        raise Http404
    if not (_token_matches(request) or _allowed_address(request)):
        if settings.IDOLSITE_METRICS_TOKEN:
            response = HttpResponse(
                gettext("Metrics need the bearer token."), status=401, content_type="text/plain; charset=utf-8"
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return HttpResponse(
            gettext("Metrics are not served to this address."), status=403, content_type="text/plain; charset=utf-8"
        )
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
