"""Pages of the classifier: the training runs with their progress, and a run's evaluation.

Each page and action needs the same role as its API endpoint (classifier/api/runs.py): any
role reads, the admin role cancels."""

from __future__ import annotations

from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from classifier import services
from classifier.ml.evaluation import IMAGES
from classifier.models import ModelVersion, TrainingRun
from core.errors import DomainError
from faces.models import Face
from labeling import roles


@require_GET
@roles.role_required(roles.can_view)
def run_list(request: HttpRequest) -> HttpResponse:
    runs = TrainingRun.objects.select_related("model_version", "requested_by")[:50]
    return render(
        request,
        "classifier/run_list.html",
        {"runs": runs, "active": ModelVersion.objects.active(), "refresh": any(not r.is_finished for r in runs)},
    )


@require_GET
@roles.role_required(roles.can_view)
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun.objects.select_related("model_version", "requested_by"), pk=pk)
    version = getattr(run, "model_version", None)
    metrics = run.metrics or {}
    per_class = sorted(metrics.get("per_class", []), key=lambda row: row["recall"])
    pairs = metrics.get("confused_pairs", [])
    ids = {ex["face_id"] for pair in pairs for ex in pair["examples"]}
    crops = dict(Face.objects.filter(pk__in=ids).values_list("id", "crop"))
    for pair in pairs:
        for ex in pair["examples"]:
            ex["crop_url"] = default_storage.url(crops[ex["face_id"]]) if crops.get(ex["face_id"]) else ""
    return render(
        request,
        "classifier/run_detail.html",
        {
            "run": run,
            "version": version,
            "metrics": metrics,
            "per_class": per_class,
            "pairs": pairs,
            "refresh": not run.is_finished,
            "can_cancel": roles.can_manage_idols(request.user),
        },
    )


@require_POST
@roles.role_required(roles.can_manage_idols)
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    try:
        services.training_cancel(run=run, user=request.user)
    except DomainError as exc:
        messages.warning(request, str(exc))
    else:
        messages.success(request, f"{run} will stop at its next check (a few seconds); nothing is written.")
    return redirect("classifier:run_detail", pk=pk)


@require_GET
@roles.role_required(roles.can_view)
def version_image(request: HttpRequest, pk: int, name: str) -> FileResponse:
    """The confusion matrix and learning curves of a model (files beside the model)."""
    if name not in IMAGES:
        raise Http404("no such image")
    version = get_object_or_404(ModelVersion, pk=pk)
    path = version.path / name
    if not path.is_file():
        raise Http404("the image is missing")
    response = FileResponse(path.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response
