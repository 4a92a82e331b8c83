"""Template filters of the classifier's pages."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext, ngettext

register = template.Library()


@register.filter
def duration(seconds: float | str | None) -> str:
    """Seconds as people say them: "45 seconds", "4 minutes", "2 h 10 min" ("" for none)."""
    try:
        total = round(float(seconds))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if total < 0:
        return ""
    if total < 90:
        return ngettext("%(n)s second", "%(n)s seconds", total) % {"n": total}
    minutes = round(total / 60)
    if minutes < 60:
        return ngettext("%(n)s minute", "%(n)s minutes", minutes) % {"n": minutes}
    hours, minutes = divmod(minutes, 60)
    return gettext("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
