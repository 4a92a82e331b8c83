"""The photo page: every face's box drawn and labeled, a box drawn by hand, exclusion."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError, Unavailable
from faces import services as face_services
from faces import similarity
from faces.models import Face, Photo
from labeling import roles, selectors, services
from labeling.forms import ExcludeForm, ManualFaceForm
from labeling.views.common import role_context


def _page(request: HttpRequest, photo_id: int, *, status: int = 200, box_form: ManualFaceForm | None = None):
    try:
        photo = selectors.photo_detail(photo_id)
    except Photo.DoesNotExist:
        raise Http404("no such photo") from None
    faces = list(photo.faces.all())
    context = {
        "photo": photo,
        "faces": faces,
        "visible_faces": [f for f in faces if not f.excluded],
        "box_form": box_form or ManualFaceForm(),
        "exclude_form": ExcludeForm(),
        "reasons": Face.ExclusionReason.choices,
        **role_context(request),
    }
    return render(request, "labeling/photo.html", context, status=status)


@require_GET
@roles.role_required(roles.can_view)
def photo(request: HttpRequest, photo_id: int) -> HttpResponse:
    return _page(request, photo_id)


@require_POST
@roles.role_required(roles.can_label)
def face_add(request: HttpRequest, photo_id: int) -> HttpResponse:
    """A box drawn by hand becomes a face. A bad box answers 400 and writes nothing."""
    photo = get_object_or_404(Photo.all_objects, pk=photo_id)
    form = ManualFaceForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The box needs x, y, w and h in whole pixels."))
        return _page(request, photo_id, status=400, box_form=form)
    box = [form.cleaned_data[k] for k in ("x", "y", "w", "h")]
    try:
        face = face_services.face_add_manual(photo=photo, box=box, user=request.user)
    except DomainError as exc:
        messages.error(request, _("No face added: %(error)s") % {"error": exc})
        return _page(request, photo_id, status=exc.status, box_form=form)
    messages.success(request, _("Face %(face)s added; label it below.") % {"face": face.pk})
    return redirect(f"{photo_url(photo_id)}#face-{face.pk}")


@require_POST
@roles.role_required(roles.can_label)
def face_exclude(request: HttpRequest, photo_id: int, face_id: int) -> HttpResponse:
    face = get_object_or_404(Face, pk=face_id, photo_id=photo_id)
    form = ExcludeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose why the face is excluded."))
        return redirect(photo_url(photo_id))
    try:
        services.face_exclude(face=face, reason=form.cleaned_data["reason"], user=request.user)
        messages.success(
            request, _("Face %(face)s excluded: it is kept, and never shown as a face again.") % {"face": face.pk}
        )
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect(photo_url(photo_id))


@require_POST
@roles.role_required(roles.can_label)
def face_include(request: HttpRequest, photo_id: int, face_id: int) -> HttpResponse:
    face = get_object_or_404(Face, pk=face_id, photo_id=photo_id)
    try:
        services.face_include(face=face, user=request.user)
        messages.success(request, _("Face %(face)s is a face again.") % {"face": face.pk})
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect(photo_url(photo_id))


def photo_url(photo_id: int) -> str:
    return reverse("labeling:photo", args=[photo_id])


# Faces the similar-faces page shows.
SIMILAR_ON_PAGE = 60


@require_GET
@roles.role_required(roles.can_view)
def face_similar(request: HttpRequest, face_id: int) -> HttpResponse:
    """The faces nearest to one face by embedding, as grid cards (select, label) with their distance."""
    face = Face.objects.filter(pk=face_id).first()
    if face is None:
        raise Http404("no such face")
    note = ""
    try:
        found = selectors.face_similar(face=face, k=SIMILAR_ON_PAGE)
    except similarity.NoEmbedding:
        found, note = [], _("This face has no embedding yet.")
    except Unavailable as exc:  # the embedder's model file is missing
        found, note = [], str(exc)
    context = {
        "face": face,
        "faces": [hit.face for hit in found],
        "distances": {hit.face.pk: hit.distance for hit in found},
        "note": note,
        **role_context(request),
    }
    return render(request, "labeling/face_similar.html", context)
