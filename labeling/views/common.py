"""What the labeling views share: JSON answers, role checks for JSON actions, page context."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_POST

from core.errors import DomainError
from labeling import roles

Check = Callable[[Any], bool]


def json_error(message: str, *, code: str = "invalid", status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message, "code": code}, status=status)


def json_action(check: Check) -> Callable:
    """A POST that answers JSON: 403 without the role (or signed out), 400 with the message of
    a DomainError (nothing was changed), 404 for a missing row. CSRF is checked by the
    middleware before this runs."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @require_POST
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return json_error("sign in first", code="not_authenticated", status=403)
            if not check(request.user):
                return json_error("your role does not allow this", code="forbidden", status=403)
            try:
                return view(request, *args, **kwargs)
            except DomainError as exc:
                status = {"forbidden": 403, "not_found": 404, "too_large": 413}.get(exc.code, 400)
                return json_error(exc.message, code=exc.code, status=status)

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
