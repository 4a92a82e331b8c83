"""The face grid, its JSON actions (label, unlabel, exclude, include, undo) and the typeahead."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from core.errors import DomainError, NotFound
from faces.models import Face, Source
from labeling import roles, search, selectors, services
from labeling.forms import GridFilterForm, IdolCreateForm, id_list, json_payload, one_id
from labeling.models import Idol, IdolGroup, LabelEvent
from labeling.views.common import json_action, role_context


def _query_string(request: HttpRequest, **changes: str | None) -> str:
    params = request.GET.copy()
    for key, value in changes.items():
        params.pop(key, None)
        if value:
            params[key] = value
    return params.urlencode()


@require_GET
@roles.role_required(roles.can_view)
def grid(request: HttpRequest) -> HttpResponse:
    groups = list(IdolGroup.objects.order_by("name").values_list("id", "name"))
    sources = list(Source.objects.order_by("name").values_list("id", "name"))
    form = GridFilterForm(request.GET or None, groups=groups, sources=sources)
    if form.is_bound and not form.is_valid():
        return render(request, "labeling/grid.html", {"form": form, "faces": [], **role_context(request)}, status=400)
    filters = form.filters() if form.is_bound else selectors.GridFilters()
    size = form.page_size() if form.is_bound else selectors.DEFAULT_PAGE_SIZE
    cursor = form.cleaned_data.get("after") if form.is_bound else None
    try:
        page = selectors.face_grid(filters=filters, cursor=cursor, size=size)
    except selectors.BadCursor as exc:
        return HttpResponseBadRequest(str(exc))
    idol = Idol.all_objects.filter(pk=filters.idol).first() if filters.idol else None
    context = {
        "form": form,
        "filters": filters,
        "faces": page.faces,
        "unlabeled_left": selectors.unlabeled_left(filters),
        "page_labeled": sum(1 for face in page.faces if not face.excluded and face.labels.all()),
        "idol": idol,
        "next_query": _query_string(request, after=page.next_cursor) if page.next_cursor else "",
        "first_query": _query_string(request, after=None) if cursor else "",
        "context_idol": idol,
        **role_context(request),
    }
    return render(request, "labeling/grid.html", context)


# --- JSON actions ---------------------------------------------------------------------------


def _faces(ids: list[int]) -> list[Face]:
    faces = list(Face.objects.filter(pk__in=ids))
    if len(faces) != len(set(ids)):
        missing = sorted(set(ids) - {f.pk for f in faces})
        raise NotFound(gettext("faces not found: %(ids)s") % {"ids": missing})
    return faces


def _idol(value: object) -> Idol:
    idol = Idol.all_objects.filter(pk=one_id(value, "idol")).first()
    if idol is None:
        raise NotFound(gettext("no such idol"))
    return idol


def _answer(batch: uuid.UUID | None, face_ids: list[int], **extra: object) -> JsonResponse:
    return JsonResponse(
        {
            "batch": str(batch) if batch else None,
            "faces": [selectors.face_state(f) for f in selectors.faces_with_labels(face_ids)],
            **extra,
        }
    )


@json_action(roles.can_label)
def label(request: HttpRequest) -> HttpResponse:
    """``{"face_ids": [...], "idol": id}``: label every face with the idol (one batch); the
    answer's ``recent`` lists the user's recent idols (the keys 1-9), newest first."""
    data = json_payload(request)
    ids = id_list(data.get("face_ids"))
    batch = uuid.uuid4()
    services.faces_label(faces=_faces(ids), idol=_idol(data.get("idol")), user=request.user, batch=batch)
    # Faces that had the label already: nothing changed, no batch to undo. The idols of the
    # keys 1-9 come back, so the page's legend shows this one first.
    recent = [idol.as_json() for idol in selectors.recent_idols(user=request.user)]
    return _answer(batch if selectors.batch_recorded(batch) else None, ids, recent=recent)


@json_action(roles.can_label)
def unlabel(request: HttpRequest) -> HttpResponse:
    """``{"face_ids": [...], "idol": id}``: remove that idol's label from the faces."""
    data = json_payload(request)
    ids = id_list(data.get("face_ids"))
    batch = services.faces_unlabel(faces=_faces(ids), idol=_idol(data.get("idol")), user=request.user)
    return _answer(batch, ids)


@json_action(roles.can_label)
def exclude(request: HttpRequest) -> HttpResponse:
    """``{"face_ids": [...], "reason": "not_face" | "not_target" | "bad_crop"}``."""
    data = json_payload(request)
    ids = id_list(data.get("face_ids"))
    reason = str(data.get("reason") or Face.ExclusionReason.NOT_A_FACE)
    batch = services.faces_exclude(faces=_faces(ids), reason=reason, user=request.user)
    return _answer(batch, ids)


@json_action(roles.can_label)
def include(request: HttpRequest) -> HttpResponse:
    data = json_payload(request)
    ids = id_list(data.get("face_ids"))
    batch = services.faces_include(faces=_faces(ids), user=request.user)
    return _answer(batch, ids)


@json_action(roles.can_label)
def undo(request: HttpRequest) -> HttpResponse:
    """``{"batch": uuid}``: undo one of your own actions."""
    data = json_payload(request)
    try:
        batch = uuid.UUID(str(data.get("batch")))
    except ValueError:
        raise DomainError(gettext("batch must be the id of an action"), code="invalid", field="batch") from None
    services.label_batch_undo(batch=batch, user=request.user, own_only=True)
    ids = list(dict.fromkeys(LabelEvent.objects.filter(batch=batch).values_list("face_id", flat=True)))
    return _answer(batch, ids)


# --- the typeahead --------------------------------------------------------------------------


@require_GET
@roles.role_required(roles.can_view)
def idol_search(request: HttpRequest) -> HttpResponse:
    """``?q=text[&deleted=1]``: the idols the picker offers, best first, and whether it may
    offer to create the query (``create``: no idol has that name; ``same_name``: those who do)."""
    include_deleted = request.GET.get("deleted") in ("1", "true", "on")
    answer = search.idol_picker(request.GET.get("q", "")[:100], include_deleted=include_deleted)
    return JsonResponse(answer.as_json())


@json_action(roles.can_create_idol)
def idol_create(request: HttpRequest) -> HttpResponse:
    """``{"name": ..., "reading": ..., "same_name_ok": false}``: a new idol, created from the
    picker; a name another idol has is refused (``duplicate_idol``) unless ``same_name_ok``."""
    form = IdolCreateForm(json_payload(request))
    if not form.is_valid():
        raise DomainError("; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()), code="invalid")
    idol = services.idol_create(
        name=form.cleaned_data["name"],
        reading=form.cleaned_data["reading"],
        same_name_ok=form.cleaned_data["same_name_ok"],
    )
    hit = search.IdolHit(id=idol.pk, name=idol.name, reading=idol.reading, status="active", rank=0)
    return JsonResponse({"idol": hit.as_json()}, status=201)
