"""The photo feed: the newest photos with their faces, filters, uploads from the page, live
detection states (polled by feed.js) and a retry for a failed detection."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from core.api import MAX_ID
from core.errors import DuplicatePhoto, InvalidImage, error_answer
from faces import services as face_services
from faces.images import file_too_large
from faces.models import Photo, Source
from labeling import feed, roles
from labeling.templatetags.feed_tags import photo_cards
from labeling.views.common import json_action, json_error, role_context

# Multipart framing around the file: a request longer than the limit plus this is refused.
_FORM_OVERHEAD = 64 * 1024


class FeedFilterForm(forms.Form):
    source = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label=_("Source"))
    state = forms.ChoiceField(required=False, label=_("State"))
    unlabeled = forms.BooleanField(required=False, label=_("with unlabeled faces"))
    after = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)
    size = forms.IntegerField(required=False, min_value=1, max_value=feed.MAX_PAGE_SIZE, widget=forms.HiddenInput)

    def __init__(self, *args: Any, sources: list[tuple[int, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", _("Any source")), *sources]
        self.fields["state"].choices = [("", _("Any state")), *feed.STATES.items()]
        for name in ("source", "state"):
            self.fields[name].widget.attrs["class"] = "f"

    def filters(self) -> feed.FeedFilters:
        data = self.cleaned_data
        return feed.FeedFilters(source=data.get("source"), state=data.get("state") or "", unlabeled=data["unlabeled"])


def _query_string(request: HttpRequest, after: str | None) -> str:
    params = request.GET.copy()
    params.pop("after", None)
    if after:
        params["after"] = after
    return params.urlencode()


def _card_context(request: HttpRequest, photo: Photo, now: Any = None) -> dict[str, Any]:
    return {"photo": photo, "state": feed.photo_state(photo, now), "can_label": roles.can_label(request.user)}


def _cards(request: HttpRequest, photos: list[Photo]) -> list[dict[str, Any]]:
    now = timezone.now()
    return [_card_context(request, photo, now) for photo in photos]


@require_GET
@roles.role_required(roles.can_view)
def photos(request: HttpRequest) -> HttpResponse:
    sources = list(Source.objects.order_by("name").values_list("id", "name"))
    form = FeedFilterForm(request.GET or None, sources=sources)
    context: dict[str, Any] = {"form": form, **role_context(request)}
    if form.is_bound and not form.is_valid():
        return render(request, "labeling/photos.html", {**context, "cards": []}, status=400)
    filters = form.filters() if form.is_bound else feed.FeedFilters()
    after = form.cleaned_data.get("after") if form.is_bound else None
    size = (form.cleaned_data.get("size") if form.is_bound else None) or feed.FEED_PAGE_SIZE
    page = feed.photo_feed(filters=filters, cursor=str(after) if after else None, size=size)
    context.update(
        filters=filters,
        cards=_cards(request, page.photos),
        filtered=filters != feed.FeedFilters(),
        next_query=_query_string(request, page.next_cursor) if page.next_cursor else "",
        first_query=_query_string(request, None) if after else "",
    )
    return render(request, "labeling/photos.html", context)


@require_GET
@roles.role_required(roles.can_view)
def photos_status(request: HttpRequest) -> HttpResponse:
    """``?ids=1,2,3``: each shown photo's state (waiting, detecting, done, failed) and a failed
    one's reason. A photo gone (trashed) is left out."""
    try:
        ids = [int(part) for part in request.GET.get("ids", "").split(",") if part.strip()]
    except ValueError:
        return HttpResponseBadRequest(gettext("ids must be photo ids separated by commas"))
    if any(not 0 < pk <= MAX_ID for pk in ids) or len(ids) > feed.MAX_STATUS_IDS:
        return HttpResponseBadRequest(gettext("ids must be photo ids separated by commas"))
    return JsonResponse({"photos": feed.photo_states(ids)})


@require_GET
@roles.role_required(roles.can_view)
def photo_card(request: HttpRequest, photo_id: int) -> HttpResponse:
    """One photo's card as the feed shows it: feed.js puts it in place of the old one."""
    try:
        photo = feed.feed_photo(photo_id)
    except Photo.DoesNotExist:
        raise Http404("no such photo") from None
    return HttpResponse(_card_html(request, photo))


def _card_html(request: HttpRequest, photo: Photo) -> str:
    return photo_cards([_card_context(request, photo)])


@json_action(roles.can_label)
def photo_retry(request: HttpRequest, photo_id: int) -> HttpResponse:
    """Detect a failed photo again (queued, as a new photo is)."""
    photo = Photo.objects.filter(pk=photo_id).first()
    if photo is None:
        raise Http404("no such photo")
    photo = face_services.photo_detection_retry(photo=photo)
    return JsonResponse(
        {"id": photo.pk, "state": feed.photo_state(photo), "html": _card_html(request, feed.feed_photo(photo.pk))}
    )


@json_action(roles.can_label)
def photo_upload(request: HttpRequest) -> HttpResponse:
    """One file (``image``) stored as a new photo through faces' way in (the API's upload):
    duplicates and photos trashed once are refused alike, and detection is queued. A duplicate
    is answered with the stored photo's page; a bad file with its reason."""
    max_bytes = settings.IDOLSITE_MAX_IMAGE_BYTES
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > max_bytes + _FORM_OVERHEAD:
        raise InvalidImage(file_too_large(int(length), max_bytes))
    upload = request.FILES.get("image")
    if upload is None:
        return json_error(gettext("choose an image file to upload"), code="invalid", status=400)
    if upload.size > max_bytes:
        raise InvalidImage(file_too_large(upload.size, max_bytes))
    try:
        photo = face_services.photo_create(data=upload.read(), original_name=upload.name or "")
    except DuplicatePhoto as exc:
        body, status = error_answer(exc)
        if exc.existing_id is not None:
            body["url"] = reverse("labeling:photo", args=[exc.existing_id])
        return JsonResponse(body, status=status)
    return JsonResponse(
        {
            "id": photo.pk,
            "state": feed.photo_state(photo),
            "url": reverse("labeling:photo", args=[photo.pk]),
            "html": _card_html(request, feed.feed_photo(photo.pk)),
        },
        status=201,
    )
