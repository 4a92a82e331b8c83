"""The home page: what there is, what runs and waits, and what to do next (``overview``)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from classifier.overview import overview
from labeling import roles
from labeling.views.common import role_context


@require_GET
@roles.role_required(roles.can_view)
def home(request: HttpRequest) -> HttpResponse:
    view = overview(user=request.user)
    context = {
        "o": view,
        "figures": view.figures,
        "pipeline": view.pipeline,
        "training": view.training,
        # A page that moves while work runs: it reloads itself (no script needed).
        "refresh": bool(view.pipeline.waiting or view.training.current),
        **role_context(request),
    }
    return render(request, "classifier/home.html", context)
