"""Pages of the classifier, in the site's own layout: the training runs with their progress, the
model versions with their evaluation, and a run's evaluation in full.

Each page and action needs the same role as its API endpoint (classifier/api/runs.py): any
role reads, the admin role starts, cancels and activates."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db.models.fields.json import KeyTransform
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from classifier import selectors, services
from classifier.ml.evaluation import CONFUSION_IMAGE_MAX_CLASSES, IMAGES, fewshot_points
from classifier.models import ModelVersion, Recognizer, TrainingRun
from classifier.services.modelfiles import model_file_names, model_file_open
from core.errors import DomainError
from faces.models import Face
from labeling import roles
from labeling.views.common import role_context

log = logging.getLogger(__name__)

# Runs and models the training page lists: the newest; older ones are in the admin.
RUNS_SHOWN = 30
VERSIONS_SHOWN = 20
# Rows of the per-idol table a page: a thousand idols are twenty pages.
PER_CLASS_PAGE_SIZE = 50


@require_GET
@roles.role_required(roles.can_view)
def run_list(request: HttpRequest) -> HttpResponse:
    """The training page: the runs with their progress, the models with their figures, and (for
    admins) the form that starts a training. Four queries, however many runs and models: the
    figures are read out of the JSON in the database, not the whole evaluation of each."""
    runs = list(
        TrainingRun.objects.select_related("requested_by")
        .defer("metrics", "history")
        .annotate(top1=KeyTransform("top1", "metrics"))[:RUNS_SHOWN]
    )
    versions = list(
        ModelVersion.objects.defer("metrics").annotate(
            top5=KeyTransform("top5", "metrics"),
            n_validation=KeyTransform("n_validation", "metrics"),
            ece=KeyTransform("ece", KeyTransform("calibration", "run__metrics")),
        )[:VERSIONS_SHOWN]
    )
    return render(
        request,
        "classifier/run_list.html",
        {
            "runs": runs,
            "versions": versions,
            "active": next((v for v in versions if v.is_active), None) or ModelVersion.objects.active(),
            "refresh": any(not r.is_finished for r in runs),
            "recognizers": Recognizer.choices,
            "default_recognizer": settings.IDOLSITE_RECOGNIZER,
            **role_context(request),
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
    faces = {
        pk: (crop, photo_id)
        for pk, crop, photo_id in Face.objects.filter(pk__in=ids).values_list("id", "crop", "photo_id")
    }
    for pair in pairs:
        for ex in pair["examples"]:
            crop, ex["photo_id"] = faces.get(ex["face_id"], ("", None))
            ex["crop_url"] = default_storage.url(crop) if crop else ""
    n_classes = metrics.get("n_classes") or len(metrics.get("per_class") or [])
    images = set(IMAGES) & model_file_names(version) if version is not None else set()
    return render(
        request,
        "classifier/run_detail.html",
        {
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
            **role_context(request),
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


@require_POST
@roles.role_required(roles.can_manage_idols)
def run_start(request: HttpRequest) -> HttpResponse:
    """Start a training of the chosen recognizer (``training_request``, as the API and the
    admin). One of that recognizer already queued or running is answered instead of a second."""
    recognizer = request.POST.get("recognizer") or settings.IDOLSITE_RECOGNIZER
    newest = TrainingRun.objects.order_by("-id").values_list("id", flat=True).first() or 0
    try:
        run = services.training_request(
            reason="page",
            user=request.user,
            force=True,
            recognizer=recognizer,
            scratch=bool(request.POST.get("scratch")),
        )
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("classifier:run_list")
    if run.pk <= newest:  # not a new run: the one already waiting or training
        messages.warning(
            request,
            gettext("%(run)s is already queued or training: no second one was started.") % {"run": run},
        )
    else:
        messages.success(request, gettext("%(run)s queued.") % {"run": run})
    return redirect("classifier:run_detail", pk=run.pk)


@require_POST
@roles.role_required(roles.can_manage_idols)
def version_activate(request: HttpRequest, pk: int) -> HttpResponse:
    """Make a model the active one, pinned (as the admin's and the API's action): new models do
    not replace it until it is unpinned."""
    version = get_object_or_404(ModelVersion, pk=pk)
    try:
        version = services.model_version_activate(version=version, pin=True, user=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, gettext("%(model)s is active and pinned.") % {"model": version})
    return redirect(reverse("classifier:run_list") + "#models")


@require_POST
@roles.role_required(roles.can_manage_idols)
def version_unpin(request: HttpRequest, pk: int) -> HttpResponse:
    """Unpin the active model: a better new one may replace it again."""
    version = services.model_version_unpin(version=get_object_or_404(ModelVersion, pk=pk), user=request.user)
    messages.success(request, gettext("%(model)s is no longer pinned.") % {"model": version})
    return redirect(reverse("classifier:run_list") + "#models")


@require_GET
@roles.role_required(roles.can_view)
def version_image(request: HttpRequest, pk: int, name: str) -> FileResponse:
    """A picture of a model's evaluation (``evaluation.IMAGES``, files beside the model)."""
    if name not in IMAGES:
        raise Http404("no such image")
    version = get_object_or_404(ModelVersion, pk=pk)
    try:
        handle = model_file_open(version, name)
    except FileNotFoundError:
        raise Http404("the image is missing") from None
    response = FileResponse(handle, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response
