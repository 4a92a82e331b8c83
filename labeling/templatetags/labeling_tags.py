"""The face cards of the grid, rendered in Python.

A page holds 100+ cards with their chips; through ``{% include %}`` in a loop, Django's
template engine spent most of the page's time on them. Here every value from the database
goes through ``escape()`` exactly as the template's auto-escaping would.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from faces.models import Face
from labeling.roles import ROLE_NAMES
from labeling.selectors import recent_idols

register = template.Library()


@register.filter
def role_name(role: str | None) -> str:
    """A role as people read it, in the page's language."""
    return str(ROLE_NAMES.get(role, role or ""))


def _pattern(name: str) -> str:
    return reverse(name, args=[0]).replace("/0/", "/{}/")


def chip_html(idol_id: int, name: str, *, deleted: bool, can_label: bool, idol_url: str) -> str:
    remove = ""
    if can_label:
        title = escape(gettext("Remove this label"))
        label = escape(gettext("Remove %(name)s") % {"name": name})
        remove = f'<button type="button" class="x" title="{title}" aria-label="{label}">×</button>'
    name = escape(name)
    return (
        f'<span class="chip{" gone" if deleted else ""}" data-idol="{idol_id}">'
        f'<a href="{idol_url.format(idol_id)}">{name}</a>{remove}</span>'
    )


@register.simple_tag
def face_cards(faces: Iterable[Face], can_label: bool = False, distances: dict[int, float] | None = None) -> SafeString:
    """The cards of ``faces``; with ``distances`` (face id -> distance), each shows its own."""
    photo_url, idol_url = _pattern("labeling:photo"), _pattern("labeling:idol")
    # Translated once a page, not once a card.
    distance_title = escape(gettext("distance between embeddings"))
    open_title = escape(gettext("Open the photo (o)"))
    face_alt, score_title = gettext("face %(id)s"), gettext("Detector score (%(detector)s)")
    parts = []
    for face in faces:
        labels = list(face.labels.all())
        state = " excluded" if face.excluded else (" labeled" if labels else "")
        chips = "".join(
            chip_html(lb.idol_id, lb.idol.name, deleted=lb.idol.is_deleted, can_label=can_label, idol_url=idol_url)
            for lb in labels
        )
        photo = photo_url.format(face.photo_id)
        reason = f'<span class="reason">{escape(face.get_exclusion_reason_display())}</span>' if face.excluded else ""
        if distances is not None and face.pk in distances:
            reason += f'<span class="distance" title="{distance_title}">{distances[face.pk]:.3f}</span>'

        parts.append(
            f'<div class="card{state}" id="face-{face.pk}" data-face="{face.pk}" data-photo="{photo}">'
            f'<img src="{escape(face.crop.url)}" alt="{escape(face_alt % {"id": face.pk})}" loading="lazy" width="112" height="112" draggable="false">'
            f'<div class="chips">{chips}</div>'
            f'<div class="meta"><a href="{photo}#face-{face.pk}" title="{open_title}">#{face.pk}</a>'
            f'<span title="{escape(score_title % {"detector": face.detector})}">{face.score:.2f}</span>{reason}</div></div>'
        )
    return mark_safe("\n".join(parts))  # every value above is escaped


@register.inclusion_tag("labeling/_idol_keys.html", takes_context=True)
def idol_keys(context: template.Context) -> dict[str, object]:
    """The legend of the keys 1-9: the idols this user labeled with last (for labelers)."""
    request = context.get("request")
    if not context.get("can_label") or request is None:
        return {"show": False}
    recent = recent_idols(user=request.user)
    return {"show": True, "recent": recent, "recent_json": [idol.as_json() for idol in recent]}
