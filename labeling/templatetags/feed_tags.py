"""The photo feed's cards, rendered in Python as the grid's face cards are (labeling_tags): a
page of cards through ``{% include %}`` spent most of the page's time in the template engine.
Every value from the database goes through ``escape()`` as the template's auto-escaping would."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext, pgettext

register = template.Library()


def _pattern(name: str) -> str:
    return reverse(name, args=[0]).replace("/0/", "/{}/")


class _Words:
    """What every card says, translated once a page."""

    def __init__(self) -> None:
        self.photo_url = _pattern("labeling:photo")
        self.card_url = _pattern("labeling:photo-card")
        self.retry_url = _pattern("labeling:photo-retry")
        self.idol_url = _pattern("labeling:idol")
        self.alt = gettext("photo %(pk)s")
        self.states = {
            "waiting": escape(gettext("waiting for detection")),
            "detecting": escape(gettext("detecting faces…")),
            "failed": escape(gettext("detection failed")),
        }
        self.uploaded = escape(pgettext("a photo's source", "uploaded"))
        self.original = escape(gettext("original post"))
        self.retry = escape(gettext("Retry"))


def _box(face: Any, names: list[str]) -> str:
    if face.excluded:
        state, label, open_ = " excluded", "✕", ""
    elif names:
        state, label, open_ = " labeled", escape(", ".join(names)), ""
    else:
        state, label, open_ = "", "?", " data-open"
    return (
        f'<span class="box{state}" data-box-face="{face.pk}"{open_} '
        f'style="--x: {face.x}; --y: {face.y}; --w: {face.w}; --h: {face.h};">'
        f'<span class="box-label">{label}</span></span>'
    )


def card_html(photo: Any, state: str, can_label: bool, words: _Words) -> str:
    pk = photo.pk
    faces = list(photo.faces.all())
    boxes, chips = [], []
    for face in faces:
        labels = list(face.labels.all())
        boxes.append(_box(face, [label.idol.name for label in labels]))
        chips += [
            f'<a class="chip" href="{words.idol_url.format(label.idol_id)}">{escape(label.idol.name)}</a>'
            for label in labels
        ]
    image = photo.thumbnail.url if photo.thumbnail else photo.image.url
    said = words.states.get(state) or escape(ngettext("%(n)s face", "%(n)s faces", len(faces)) % {"n": len(faces)})
    created = timezone.localtime(photo.created_at)
    where = escape(photo.source.name) if photo.source else words.uploaded
    if photo.source_url:
        where += (
            f' · <a href="{escape(photo.source_url)}" rel="noreferrer noopener" target="_blank">{words.original}</a>'
        )
    if photo.original_name:
        where += f' · <span class="pname">{escape(photo.original_name)}</span>'
    extra = ""
    if state == "done":
        extra = f'<p class="plabels">{"".join(chips)}</p>'
    elif state == "failed":
        extra = f'<p class="perror" data-error>{escape(photo.error)}</p>'
        if can_label:
            extra += f'<button type="button" data-retry="{words.retry_url.format(pk)}">{words.retry}</button>'
    photo_url = words.photo_url.format(pk)
    return (
        f'<article class="pcard state-{state}" id="photo-{pk}" data-photo-card="{pk}" data-state="{state}" '
        f'data-card-url="{words.card_url.format(pk)}">'
        f'<a class="stage pstage" href="{photo_url}" style="--W: {photo.width}; --H: {photo.height};">'
        f'<img src="{escape(image)}" alt="{escape(words.alt % {"pk": pk})}" loading="lazy" draggable="false">'
        f"{''.join(boxes)}</a>"
        f'<div class="pmeta"><p><span class="pstate" data-state-label>{said}</span> '
        f'<a href="{photo_url}">#{pk}</a> '
        f'<time datetime="{created.isoformat()}">{escape(date_format(created, "SHORT_DATETIME_FORMAT"))}</time></p>'
        f'<p class="muted">{where}</p>{extra}</div></article>'
    )


@register.simple_tag
def photo_cards(cards: Iterable[dict[str, Any]]) -> SafeString:
    """The cards of a page: each ``{"photo", "state", "can_label"}`` (labeling.views.feed)."""
    words = _Words()
    return mark_safe("\n".join(card_html(c["photo"], c["state"], c["can_label"], words) for c in cards))  # escaped
