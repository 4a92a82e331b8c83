"""Who may call which endpoint: the permission class of every API view (the setting
DEFAULT_PERMISSION_CLASSES). Kept apart from core.api because DRF imports it while
``rest_framework.views`` is still loading."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

# --- permissions ----------------------------------------------------------------------------

PUBLIC = "public"


def signed_in(user: Any) -> bool:
    """Any signed-in user, whatever their role (their own token, for instance)."""
    return True


Requirement = str | Callable[[Any], bool]


class RolePermission(BasePermission):
    """Each view lists what each of its actions needs in ``required``: a model permission
    (``"faces.change_photo"``, carried by the role groups of labeling.roles), a check on the
    user (``labeling.roles.can_label``) or ``PUBLIC``. The key is the viewset's action
    (``list``, ``trash``) or, for plain API views, the method (``get``, ``post``). An action the
    view does not list is refused: a new endpoint is closed until someone says who may use it.

    Anonymous callers get 401 (token authentication answers with WWW-Authenticate), signed-in
    callers without the role 403. OPTIONS (DRF's metadata) needs only a sign-in."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not handles(view, request):
            return True  # no code runs: the view answers 405 with the methods it allows
        requirement = required_for(view, request)
        if requirement == PUBLIC:
            return True
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if requirement is None:
            return request.method == "OPTIONS"
        if callable(requirement):
            return bool(requirement(user))
        return user.has_perm(requirement)


def handles(view: Any, request: Request) -> bool:
    """Whether the view has code for the request's method (a viewset: an action mapped to it)."""
    method = request.method.lower()
    action_map = getattr(view, "action_map", None)
    if action_map is not None:
        return method in action_map or (method == "head" and "get" in action_map) or method == "options"
    return method in getattr(view, "http_method_names", ()) and hasattr(view, method)


def required_for(view: Any, request: Request) -> Requirement | None:
    required: dict[str, Requirement] = getattr(view, "required", {})
    action = getattr(view, "action", None) or request.method.lower()
    if action == "head":
        action = "get"
    return required.get(action)
