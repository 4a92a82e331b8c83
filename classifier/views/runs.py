"""Pages of the classifier: the training runs with their progress, and a run's evaluation.

Each page and action needs the same role as its API endpoint (classifier/api/runs.py): any
role reads, the admin role cancels."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from classifier import selectors, services
from classifier.ml.evaluation import CONFUSION_IMAGE_MAX_CLASSES, IMAGES, fewshot_points
from classifier.models import ModelVersion, TrainingRun
from core.errors import DomainError
from faces.models import Face
from labeling import roles

log = logging.getLogger(__name__)

# The pages wear the admin's look: its header with the site's name, not "Django administration".
_ADMIN_LOOK = {"site_header": "idolsite", "site_title": "idolsite"}

# Rows of the per-idol table a page: a thousand idols are twenty pages.
PER_CLASS_PAGE_SIZE = 50


@require_GET
@roles.role_required(roles.can_view)
def run_list(request: HttpRequest) -> HttpResponse:
    runs = TrainingRun.objects.select_related("model_version", "requested_by")[:50]
    return render(
        request,
        "classifier/run_list.html",
        {
            **_ADMIN_LOOK,
            "runs": runs,
            "active": ModelVersion.objects.active(),
            "refresh": any(not r.is_finished for r in runs),
        },
    )


@require_GET
@roles.role_required(roles.can_view)
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun.objects.select_related("model_version", "requested_by"), pk=pk)
    version = getattr(run, "model_version", None)
    metrics = run.metrics or {}
    sort = request.GET.get("sort") or "recall"
    order = request.GET.get("order") or "asc"
    query = request.GET.get("q", "")[:100]
    try:
        rows = selectors.per_class_rows(metrics, sort=sort, order=order, query=query)
    except DomainError as exc:
        return HttpResponseBadRequest(str(exc))
    pairs = metrics.get("confused_pairs", [])
    ids = {ex["face_id"] for pair in pairs for ex in pair["examples"]}
    crops = dict(Face.objects.filter(pk__in=ids).values_list("id", "crop"))
    for pair in pairs:
        for ex in pair["examples"]:
            ex["crop_url"] = default_storage.url(crops[ex["face_id"]]) if crops.get(ex["face_id"]) else ""
    n_classes = metrics.get("n_classes") or len(metrics.get("per_class") or [])
    images = {name for name in IMAGES if version is not None and (version.path / name).is_file()}
    return render(
        request,
        "classifier/run_detail.html",
        {
            **_ADMIN_LOOK,
            "run": run,
            "version": version,
            "metrics": metrics,
            "per_class": Paginator(rows, PER_CLASS_PAGE_SIZE).get_page(request.GET.get("page")),
            "per_class_total": len(metrics.get("per_class") or []),
            "columns": _columns(sort, order, query),
            "sort": sort,
            "order": order,
            "q": query,
            "pairs": pairs,
            "images": images,
            "n_classes": n_classes,
            "confusion_max_classes": CONFUSION_IMAGE_MAX_CLASSES,
            "calibration": metrics.get("calibration"),
            "fewshot": _fewshot(metrics),
            "refresh": not run.is_finished,
            "can_cancel": roles.can_manage_idols(request.user),
        },
    )


def _columns(sort: str, order: str, query: str) -> list[dict[str, Any]]:
    """The per-idol table's headers, each a link that sorts by it (again: the other way)."""
    labels = {
        "name": gettext("Idol"),
        "precision": gettext("Precision"),
        "recall": gettext("Recall"),
        "f1": gettext("F1"),
        "support": gettext("Faces"),
    }
    columns = []
    for key in selectors.PER_CLASS_SORTS:
        current = key == sort
        next_order = ("desc" if order == "asc" else "asc") if current else "asc"
        params = {"sort": key, "order": next_order, **({"q": query} if query else {})}
        columns.append(
            {
                "key": key,
                "label": labels[key],
                "url": f"?{urlencode(params)}",
                "current": current,
                "aria_sort": ("ascending" if order == "asc" else "descending") if current else "none",
            }
        )
    return columns


def _fewshot(metrics: dict[str, Any]) -> list[tuple[int, float, float | None]]:
    if not metrics.get("fewshot"):
        return []
    try:
        return fewshot_points(metrics["fewshot"])
    except ValueError as exc:
        log.warning("run metrics hold a malformed few-shot curve: %s", exc)
        return []


@require_POST
@roles.role_required(roles.can_manage_idols)
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    try:
        services.training_cancel(run=run, user=request.user)
    except DomainError as exc:
        messages.warning(request, str(exc))
    else:
        messages.success(
            request, gettext("%(run)s will stop at its next check (a few seconds); nothing is written.") % {"run": run}
        )
    return redirect("classifier:run_detail", pk=pk)


@require_GET
@roles.role_required(roles.can_view)
def version_image(request: HttpRequest, pk: int, name: str) -> FileResponse:
    """A picture of a model's evaluation (``evaluation.IMAGES``, files beside the model)."""
    if name not in IMAGES:
        raise Http404("no such image")
    version = get_object_or_404(ModelVersion, pk=pk)
    path = version.path / name
    if not path.is_file():
        raise Http404("the image is missing")
    response = FileResponse(path.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response
