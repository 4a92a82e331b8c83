"""The idol pages: the index, and one idol's faces, counts, groups and aliases, with the
admin role's graduate, restore, rename and merge."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError, NotFound, Unavailable
from faces import similarity
from labeling import duplicates, roles, selectors, services
from labeling.forms import MergeForm, RenameForm, SoftDeleteForm
from labeling.models import Idol
from labeling.services.names import DuplicateIdol, describe
from labeling.views.common import role_context

IDOL_PAGE_SIZE = 120
# Idols the index lists at once (by name); a search narrows it.
IDOL_LIST_LIMIT = 300
# Likely faces of hers the idol page offers to label at once.
SIMILAR_ON_PAGE = 60


@require_GET
@roles.role_required(roles.can_view)
def idol_index(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:100]
    status = request.GET.get("status", "")
    if request.GET.get("deleted") in ("1", "on"):  # the old checkbox: everyone
        status = "all"
    if status not in selectors.IDOL_LIST_STATUSES:
        status = "active"
    idols = selectors.idol_list(query, status=status, limit=IDOL_LIST_LIMIT + 1)
    tabs = selectors.idol_list_tabs()
    context = {
        "idols": idols[:IDOL_LIST_LIMIT],
        "more": len(idols) > IDOL_LIST_LIMIT,
        "limit": IDOL_LIST_LIMIT,
        "q": query,
        "status": status,
        "tabs": [
            ("active", _("Active"), tabs["active"]),
            ("graduated", _("Graduated"), tabs["graduated"]),
            ("all", _("All, merged too"), tabs["all"]),
        ],
        **role_context(request),
    }
    return render(request, "labeling/idol_list.html", context)


@require_GET
@roles.role_required(roles.can_view)
def idol(request: HttpRequest, idol_id: int) -> HttpResponse:
    try:
        summary = selectors.idol_detail(idol_id)
    except Idol.DoesNotExist:
        raise Http404("no such idol") from None
    filters = selectors.GridFilters(status="all", idol=idol_id, sort="newest")
    cursor = request.GET.get("after") or None
    try:
        page = selectors.face_grid(filters=filters, cursor=cursor, size=IDOL_PAGE_SIZE)
    except selectors.BadCursor as exc:
        return HttpResponseBadRequest(str(exc))
    context = {
        **_likely_faces(summary.idol),
        "duplicates": _likely_duplicates(summary.idol),
        "summary": summary,
        "idol": summary.idol,
        "context_idol": summary.idol,
        "faces": page.faces,
        "next_query": f"after={page.next_cursor}" if page.next_cursor else "",
        "first_query": "after=" if cursor else "",
        "rename_form": RenameForm(initial={"name": summary.idol.name, "reading": summary.idol.reading}),
        "delete_form": SoftDeleteForm(),
        "merge_form": MergeForm(),
        **role_context(request),
    }
    return render(request, "labeling/idol.html", context)


def _likely_faces(idol: Idol) -> dict[str, object]:
    """The section "Find her in other photos": unlabeled faces nearest to her labeled ones."""
    try:
        found = selectors.idol_similar(idol=idol, limit=SIMILAR_ON_PAGE, unlabeled_only=True)
    except similarity.NoEmbedding:
        return {"similar": [], "similar_note": _("None of her labeled faces has an embedding yet.")}
    except Unavailable as exc:  # the embedder's model file is missing: the rest of the page stands
        return {"similar": [], "similar_note": str(exc)}
    return {"similar": found, "similar_note": "", "similar_max": settings.IDOLSITE_SIMILAR_MAX_DISTANCE}


def _likely_duplicates(idol: Idol) -> list[duplicates.DuplicateIdol]:
    """The box "Maybe the same person": idols whose labeled faces coincide with hers."""
    try:
        return duplicates.idol_duplicates(idol=idol)
    except Unavailable:  # the embedder's model file is missing: the rest of the page stands
        return []


def _duplicate_message(exc: DuplicateIdol) -> str:
    """The refusal, with links to the idols who have the name (on her page, "Merge into" takes
    one of them when they are one person)."""
    links = format_html_join(
        ", ", '<a href="{}">{}</a>', ((reverse("labeling:idol", args=[i.pk]), describe(i)) for i in exc.matches)
    )
    return format_html("{} {}", exc.message, links)


def _idol_action(request: HttpRequest, idol_id: int, action, form_class=None) -> HttpResponse:  # type: ignore[no-untyped-def]
    idol = get_object_or_404(Idol.all_objects, pk=idol_id)
    data = None
    if form_class is not None:
        form = form_class(request.POST)
        if not form.is_valid():
            messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
            return redirect(reverse("labeling:idol", args=[idol_id]))
        data = form.cleaned_data
    try:
        message, target = action(idol, data)
        messages.success(request, message)
    except DuplicateIdol as exc:
        messages.error(request, _duplicate_message(exc))
        target = idol_id
    except DomainError as exc:
        messages.error(request, str(exc))
        target = idol_id
    return redirect(reverse("labeling:idol", args=[target]))


@require_POST
@roles.role_required(roles.can_manage_idols)
def idol_soft_delete(request: HttpRequest, idol_id: int) -> HttpResponse:
    def act(idol: Idol, data: dict) -> tuple[str, int]:
        done = services.idol_soft_delete(idol=idol, reason=data["reason"], user=request.user)
        message = _("%(name)s is %(state)s; her labels are kept.") % {
            "name": done.name,
            "state": done.get_deletion_reason_display().lower(),
        }
        return message, idol.pk

    return _idol_action(request, idol_id, act, SoftDeleteForm)


@require_POST
@roles.role_required(roles.can_manage_idols)
def idol_restore(request: HttpRequest, idol_id: int) -> HttpResponse:
    def act(idol: Idol, data: None) -> tuple[str, int]:
        done = services.idol_restore(idol=idol, user=request.user)
        return _("%(name)s is active again.") % {"name": done.name}, idol.pk

    return _idol_action(request, idol_id, act)


@require_POST
@roles.role_required(roles.can_manage_idols)
def idol_rename(request: HttpRequest, idol_id: int) -> HttpResponse:
    def act(idol: Idol, data: dict) -> tuple[str, int]:
        old = idol.name
        done = services.idol_rename(
            idol=idol,
            name=data["name"],
            reading=data["reading"],
            user=request.user,
            same_name_ok=data["same_name_ok"],
        )
        return _("%(old)s is now %(name)s; the old name stays as an alias.") % {"old": old, "name": done.name}, idol.pk

    return _idol_action(request, idol_id, act, RenameForm)


@require_POST
@roles.role_required(roles.can_manage_idols)
def idol_merge(request: HttpRequest, idol_id: int) -> HttpResponse:
    def act(idol: Idol, data: dict) -> tuple[str, int]:
        keep = Idol.all_objects.filter(pk=data["into"]).first()
        if keep is None:
            raise NotFound(_("no idol with id %(id)s") % {"id": data["into"]})
        services.idol_merge(keep=keep, drop=idol, user=request.user)
        message = _("%(name)s was merged into %(into)s: her labels, aliases and groups moved.") % {
            "name": idol.name,
            "into": keep.name,
        }
        return message, keep.pk

    return _idol_action(request, idol_id, act, MergeForm)
