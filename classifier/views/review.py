"""The review pages: ``/review/`` confirms the model's suggestions with the keyboard,
``/review/clusters/`` names or splits groups of unknown faces. Views read through
``classifier.selectors``, write through ``classifier.services`` and hold no logic of their own."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from classifier import selectors, services
from classifier.models import FaceCluster, ModelVersion
from classifier.selectors import Mode
from classifier.services.clusters import cluster_candidates
from core.errors import DomainError, NotFound
from labeling import roles
from labeling.forms import id_list, json_payload, one_id
from labeling.models import Idol
from labeling.selectors import MAX_PAGE_SIZE, face_state, faces_with_labels
from labeling.views.common import json_action, role_context

PAGE_SIZE = 48  # faces a review page shows (the benchmark's page too)

# Pick mode (``x`` on the page): every face shows a key; typing it rejects that face. Home row
# first, then the rows above and below, then the punctuation keys that US and Japanese (JIS)
# keyboards both type without Shift, the digits last; the last key is the prefix of two-key
# hints when a page has more faces than keys (43 keys: 42 one-key hints, 6 two-key on a page).
HINT_KEYS = "asdfghjkl;qwertyuiopzxcvbnm,./-[]1234567890"


def review_hints(probabilities: list[float], keys: str = HINT_KEYS) -> list[str]:
    """The pick-mode key of each face of a page, prefix-free (no hint starts another one): one
    key for as many faces as the alphabet allows, given to the faces least likely right (lowest
    probability first; ties in page order), two keys (``prefix`` + key) for the rest."""
    n, size = len(probabilities), len(keys)
    prefixes = 0 if n <= size else -(-(n - size) // (size - 1))
    if prefixes >= size:
        raise ValueError(f"{n} faces need more than two keys a hint with {size} keys")
    singles = list(keys[: size - prefixes])
    doubles = [p + k for p in keys[size - prefixes :] for k in keys]
    codes = (singles + doubles)[:n]
    order = sorted(range(n), key=lambda i: (probabilities[i], i))
    hints = [""] * n
    for rank, i in enumerate(order):
        hints[i] = codes[rank]
    return hints


def _int(value: str | None, default: int | None = None) -> int | None:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


@require_GET
@roles.role_required(roles.can_view)
def review(request: HttpRequest) -> HttpResponse:
    mode = request.GET.get("mode") or Mode.CONFIDENT
    if mode not in Mode.ALL:
        mode = Mode.CONFIDENT
    idol_id = _int(request.GET.get("idol"))
    idol = Idol.all_objects.filter(pk=idol_id).first() if idol_id else None
    offset = max(_int(request.GET.get("offset"), 0) or 0, 0)
    version = ModelVersion.objects.active()
    rows = list(selectors.suggestions_for(mode=mode, idol=idol, version=version)[offset : offset + PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    # Counted up to a cap: an exact count reads every open suggestion of the idol.
    idol_open = selectors.pending_count(version, idol=idol, cap=selectors.PENDING_CAP) if idol and version else None
    current = selectors.labels_of([r.face_id for r in rows]) if mode == Mode.MISTAKES else {}
    for row, hint in zip(rows, review_hints([r.probability for r in rows]), strict=True):
        row.current_labels = current.get(row.face_id, [])
        row.hint = hint
    context = {
        "version": version,
        "rows": rows,
        "mode": mode,
        "modes": Mode.CHOICES,
        "idol": idol,
        "idol_open": idol_open,
        "offset": offset,
        "next_offset": offset + PAGE_SIZE if more else None,
        "stats": selectors.review_stats(version, pending_cap=selectors.PENDING_CAP),
        "page_size": PAGE_SIZE,
        **role_context(request),
    }
    return render(request, "classifier/review.html", context)


def _idol_or_none(value: object) -> Idol | None:
    if value in (None, ""):
        return None
    idol = Idol.all_objects.filter(pk=one_id(value, "idol")).first()
    if idol is None:
        raise NotFound(gettext("no such idol"))
    return idol


def _choices(value: object) -> dict[int, int]:
    """``[{"face": id, "idol": id}, ...]``: the idol chosen for each face (the grid's first
    suggestions, which may differ face to face)."""
    if not isinstance(value, list) or not value or len(value) > MAX_PAGE_SIZE:
        raise DomainError(
            gettext("choices must be a list of 1 to %(max)s items") % {"max": MAX_PAGE_SIZE},
            code="invalid",
            field="choices",
        )
    if not all(isinstance(item, dict) for item in value):
        raise DomainError(gettext('each choice must be {"face": id, "idol": id}'), code="invalid", field="choices")
    return {one_id(item.get("face"), "face"): one_id(item.get("idol"), "idol") for item in value}


@json_action(roles.can_label)
def accept(request: HttpRequest) -> HttpResponse:
    """``{"face_ids": [...], "idol": id or null, "replace": false}``: accept the suggestions
    (each face's own idol without ``idol``); or ``{"choices": [{"face": id, "idol": id}, ...]}``
    (the grid's). One batch, undone through /label/api/undo/. Answers the faces' labels too."""
    data = json_payload(request)
    if data.get("choices") is not None:
        choices = _choices(data.get("choices"))
        ids = list(choices)
        batch = services.suggestions_accept(faces=ids, choices=choices, user=request.user)
    else:
        ids = id_list(data.get("face_ids"))
        batch = services.suggestions_accept(
            faces=ids, idol=_idol_or_none(data.get("idol")), user=request.user, replace=bool(data.get("replace"))
        )
    # The faces as the grid shows them, as the labeling actions answer.
    faces = [face_state(face) for face in faces_with_labels(ids)]
    return JsonResponse({"batch": str(batch), "accepted": ids, "faces": faces})


@json_action(roles.can_label)
def reject(request: HttpRequest) -> HttpResponse:
    """``{"face_ids": [...], "idol": id or null}``: not this idol (each face's suggested one
    without ``idol``). Answers each face's next suggestion, and the grid's top list."""
    data = json_payload(request)
    ids = id_list(data.get("face_ids"))
    count = services.suggestions_reject(faces=ids, idol=_idol_or_none(data.get("idol")), user=request.user)
    return JsonResponse(
        {"rejected": count, "faces": selectors.next_suggestions(ids), "suggestions": selectors.face_suggestions(ids)}
    )


@json_action(roles.can_label)
def unreject(request: HttpRequest) -> HttpResponse:
    """``{"face_ids": [...], "idol": id}``: take a rejection back (the page's undo of ``n``)."""
    data = json_payload(request)
    ids = id_list(data.get("face_ids"))
    idol = _idol_or_none(data.get("idol"))
    if idol is None:
        raise DomainError(gettext("idol is required"), code="invalid", field="idol")
    count = services.suggestions_unreject(faces=ids, idol=idol, user=request.user)
    return JsonResponse({"unrejected": count, "faces": selectors.next_suggestions(ids)})


# --- clusters -------------------------------------------------------------------------------

CLUSTER_FACES_SHOWN = 60


@require_GET
@roles.role_required(roles.can_view)
def cluster_list(request: HttpRequest) -> HttpResponse:
    found = list(selectors.open_clusters()[:100])
    for cluster in found:
        cluster.shown = list(cluster.members.all())[:CLUSTER_FACES_SHOWN]
        cluster.hidden = cluster.size - len(cluster.shown)
    return render(
        request,
        "classifier/clusters.html",
        {
            "version": ModelVersion.objects.active(),
            "clusters": found,
            "shown": CLUSTER_FACES_SHOWN,
            "embedded": bool(found) or cluster_candidates().exists(),
            **role_context(request),
        },
    )


def _back(request: HttpRequest, message: str, *, error: bool = False) -> HttpResponse:
    (messages.error if error else messages.success)(request, message)
    return redirect("classifier:clusters")


def _cluster(pk: int) -> FaceCluster | None:
    return FaceCluster.objects.filter(pk=pk).first()


# A rebuild replaces the open clusters nobody touched: the page may show one that is gone.
GONE = gettext_lazy("This cluster was rebuilt meanwhile: look again.")


@require_POST
@roles.role_required(roles.can_label)
def cluster_name(request: HttpRequest, pk: int) -> HttpResponse:
    cluster = _cluster(pk)
    if cluster is None:
        return _back(request, GONE, error=True)
    idol = Idol.all_objects.filter(pk=_int(request.POST.get("idol"))).first()
    if idol is None:
        return _back(request, gettext("Choose the idol first."), error=True)
    try:
        services.cluster_name(cluster=cluster, idol=idol, user=request.user)
    except DomainError as exc:
        return _back(request, exc.message, error=True)
    return _back(
        request,
        gettext("Cluster %(cluster)s named %(idol)s: its faces are labeled (the Activity page undoes it).")
        % {"cluster": pk, "idol": idol.name},
    )


@require_POST
@roles.role_required(roles.can_label)
def cluster_split(request: HttpRequest, pk: int) -> HttpResponse:
    cluster = _cluster(pk)
    if cluster is None:
        return _back(request, GONE, error=True)
    faces = [v for v in (_int(x) for x in request.POST.getlist("faces")) if v is not None]
    try:
        result = services.cluster_split(cluster=cluster, faces=faces or None, user=request.user)
    except DomainError as exc:
        return _back(request, exc.message, error=True)
    return _back(
        request,
        ngettext(
            "Cluster %(cluster)s split: %(count)s cluster now.",
            "Cluster %(cluster)s split: %(count)s clusters now.",
            len(result),
        )
        % {"cluster": pk, "count": len(result)},
    )


@require_POST
@roles.role_required(roles.can_label)
def cluster_rebuild(request: HttpRequest) -> HttpResponse:
    # Queued, not run here: a build of thousands of faces takes longer than a page should.
    services.clusters_build_soon(now=True)
    return _back(request, gettext("The clusters are being rebuilt: reload this page in a minute."))
