"""What the labeling views share: JSON answers, role checks for JSON actions, page context."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from core.errors import DomainError, error_answer, error_body
from labeling import roles

Check = Callable[[Any], bool]


def json_error(message: str, *, code: str = "invalid", status: int = 400) -> JsonResponse:
    """An error in the API's shape (``{"error": code, "detail": message, "fields": {}}``)."""
    return JsonResponse(error_body(code, message), status=status)


def json_action(check: Check) -> Callable:
    """A POST that answers JSON: 403 without the role (or signed out); a DomainError (nothing
    was changed) with its own status and the API's error shape, so a page and the API answer
    the same refusal alike; 404 for a missing row. CSRF is checked by the middleware before
    this runs."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @require_POST
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return json_error(gettext("sign in first"), code="not_authenticated", status=403)
            if not check(request.user):
                return json_error(gettext("your role does not allow this"), code="forbidden", status=403)
            try:
                return view(request, *args, **kwargs)
            except DomainError as exc:
                body, status = error_answer(exc)
                return JsonResponse(body, status=status)
            except (Http404, ObjectDoesNotExist):  # get_object_or_404, or a row gone meanwhile
                return json_error(gettext("not found"), code="not_found", status=404)

        return wrapped

    return decorator


def role_context(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "role": roles.role_of(user),
        "can_label": roles.can_label(user),
        "can_create_idol": roles.can_create_idol(user),
        "can_manage_idols": roles.can_manage_idols(user),
    }
