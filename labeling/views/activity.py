"""The latest labeling actions, by whom, with undo of one's own."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError
from labeling import roles, selectors, services
from labeling.views.common import role_context


@require_GET
@roles.role_required(roles.can_view)
def activity(request: HttpRequest) -> HttpResponse:
    mine = request.GET.get("mine") == "1"
    actions = selectors.recent_actions(user_id=request.user.pk if mine else None)
    return render(request, "labeling/activity.html", {"actions": actions, "mine": mine, **role_context(request)})


@require_POST
@roles.role_required(roles.can_label)
def activity_undo(request: HttpRequest) -> HttpResponse:
    try:
        batch = uuid.UUID(request.POST.get("batch", ""))
        services.label_batch_undo(batch=batch, user=request.user, own_only=True)
        messages.success(request, gettext("Undone."))
    except ValueError:
        messages.error(request, gettext("That is not an action id."))
    except DomainError as exc:
        messages.error(request, gettext("Not undone: %(error)s") % {"error": exc})
    return redirect(reverse("labeling:activity") + ("?mine=1" if request.POST.get("mine") == "1" else ""))
