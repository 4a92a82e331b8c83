"""Who may do what on the labeling pages and the REST API.

Three roles, each a Django Group holding model permissions, so the same checks work for the
pages, the API and the admin:

- ``viewer``: reads every page.
- ``labeler``: also labels, excludes, draws boxes, uploads photos (API), creates an idol
  inline from the picker, and exports the labeled faces as a dataset (starts exports, sees and
  downloads every export, deletes their own).
  Not staff: labelers never need the Django admin.
- ``admin``: also graduates, restores, renames, merges and edits idols, edits groups,
  memberships and sources, trashes and restores photos, deletes anyone's dataset export.

Viewers may not export: an export takes every labeled crop out in bulk and costs the workers
minutes, while viewing shows one page at a time.

Superusers count as admin. The groups are kept in step by ``sync_roles`` after every
``migrate`` (a ``post_migrate`` receiver, like Django's own permissions) and by
``manage.py roles``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.mixins import AccessMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import pgettext_lazy

VIEWER, LABELER, ADMIN = "viewer", "labeler", "admin"
ROLES = (VIEWER, LABELER, ADMIN)
# The roles as pages name them (the values above are group names and stay English).
ROLE_NAMES = {
    VIEWER: pgettext_lazy("role", "viewer"),
    LABELER: pgettext_lazy("role", "labeler"),
    ADMIN: pgettext_lazy("role", "admin"),
}

_READ = [
    "faces.view_photo",
    "faces.view_face",
    "faces.view_source",
    "labeling.view_idol",
    "labeling.view_idolgroup",
    "labeling.view_idolalias",
    "labeling.view_membership",
    "labeling.view_facelabel",
    "labeling.view_labelevent",
]
_LABEL = [
    "labeling.add_facelabel",
    "labeling.delete_facelabel",
    "labeling.add_labelevent",
    "faces.add_face",  # a box drawn by hand
    "faces.add_photo",  # an upload through the API (POST /api/photos/)
    "faces.change_face",  # exclude / include
    "labeling.add_idol",  # inline creation from the picker
    "labeling.add_datasetexport",
    "labeling.view_datasetexport",
]
_ADMIN = [
    "labeling.change_idol",
    "labeling.add_idolalias",
    "labeling.change_idolalias",
    "labeling.delete_idolalias",
    "labeling.add_idolgroup",
    "labeling.change_idolgroup",
    "labeling.delete_idolgroup",
    "labeling.add_membership",
    "labeling.change_membership",
    "labeling.delete_membership",
    "faces.add_source",
    "faces.change_source",
    "faces.delete_source",
    "faces.change_photo",
    "faces.delete_photo",
    "labeling.delete_datasetexport",
]
ROLE_PERMISSIONS: dict[str, list[str]] = {
    VIEWER: _READ,
    LABELER: _READ + _LABEL,
    ADMIN: _READ + _LABEL + _ADMIN,
}


# --- checks -----------------------------------------------------------------------------------


def can_view(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.has_perm("labeling.view_facelabel"))


def can_label(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.has_perm("labeling.add_facelabel"))


def can_create_idol(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.has_perm("labeling.add_idol"))


def can_manage_idols(user: Any) -> bool:
    """Graduate, restore, rename and merge idols."""
    return bool(user and user.is_authenticated and user.has_perm("labeling.change_idol"))


def can_export(user: Any) -> bool:
    """Start dataset exports, see and download every one."""
    return bool(user and user.is_authenticated and user.has_perm("labeling.add_datasetexport"))


def can_delete_export(user: Any, export: Any) -> bool:
    """Anyone's export with the admin role; a labeler their own."""
    if not can_export(user):
        return False
    return user.has_perm("labeling.delete_datasetexport") or export.requested_by_id == user.pk


def role_of(user: Any) -> str | None:
    """The strongest role a user holds, for display."""
    if can_manage_idols(user):
        return ADMIN
    if can_label(user):
        return LABELER
    if can_view(user):
        return VIEWER
    return None


Check = Callable[[Any], bool]


def role_required(check: Check) -> Callable:
    """View decorator: anonymous users go to the login page, signed-in users without the
    role get 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class RoleRequiredMixin(AccessMixin):
    """Class-based views: ``role_check = can_label``."""

    role_check: Check = staticmethod(can_view)  # type: ignore[assignment]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not type(self).role_check(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


# --- the groups -------------------------------------------------------------------------------


def sync_roles(*, apps: Any = None, using: str = "default") -> None:
    """Create the role groups and give each exactly its permissions. Safe to run again."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = {code for codes in ROLE_PERMISSIONS.values() for code in codes}
    found = {
        f"{app}.{codename}": pk
        for pk, app, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
        if f"{app}.{codename}" in wanted
    }
    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set([found[code] for code in codes if code in found])


def assign_role(user: Any, role: str) -> None:
    """Give a user one role (and no other role group)."""
    from django.contrib.auth.models import Group

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (use {', '.join(ROLES)})")
    sync_roles()
    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name=role))
    user.groups.add(Group.objects.get(name=role))
    for cache in ("_perm_cache", "_group_perm_cache", "_user_perm_cache"):
        if hasattr(user, cache):
            delattr(user, cache)


def _post_migrate(sender: Any, *, apps: Any = None, using: str = "default", **kwargs: Any) -> None:
    if apps is None:  # flush (tests that use transactions) sends no apps
        from django.apps import apps as global_apps

        apps = global_apps
    try:
        apps.get_model("auth", "Group")
    except LookupError:  # auth is not migrated yet (a partial migrate)
        return
    sync_roles(apps=apps, using=using)
