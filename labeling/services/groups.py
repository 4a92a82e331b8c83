"""Groups and memberships; a change reaches the members' search text."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import Conflict, DomainError
from labeling.models import Idol, IdolGroup, Membership
from labeling.services.idols import _clean_name, idol_refresh_search_text


@transaction.atomic
def group_create(*, name: str, reading: str = "", notes: str = "") -> IdolGroup:
    name = _clean_name(name)
    if IdolGroup.objects.filter(name=name).exists():
        raise Conflict(
            gettext("a group named %(name)s exists already") % {"name": name}, code="duplicate", field="name"
        )
    return IdolGroup.objects.create(name=name, reading=reading, notes=notes)


@transaction.atomic
def group_update(
    *, group: IdolGroup, name: str | None = None, reading: str | None = None, notes: str | None = None
) -> IdolGroup:
    """Change a group; a new name or reading reaches its members' search text."""
    group = IdolGroup.objects.select_for_update().get(pk=group.pk)
    renamed = False
    if name is not None:
        name = _clean_name(name)
        if IdolGroup.objects.filter(name=name).exclude(pk=group.pk).exists():
            raise Conflict(
                gettext("a group named %(name)s exists already") % {"name": name}, code="duplicate", field="name"
            )
        renamed = name != group.name
        group.name = name
    if reading is not None:
        renamed = renamed or reading != group.reading
        group.reading = reading
    if notes is not None:
        group.notes = notes
    group.save()
    if renamed:
        refresh_group_members(group)
    return group


@transaction.atomic
def group_delete(*, group: IdolGroup) -> None:
    """Delete a group nobody was ever a member of (memberships are history: end them instead)."""
    if Membership.objects.filter(group=group).exists():
        raise Conflict(
            gettext("%(group)s has memberships; delete or keep them, a group with history stays")
            % {"group": group.name},
            code="in_use",
        )
    group.delete()


_UNSET: Any = object()


@transaction.atomic
def membership_add(
    *, idol: Idol, group: IdolGroup, joined: date | None = None, left: date | None = None, notes: str = ""
) -> Membership:
    """An idol joins a group (again: a graduated idol can come back, in this group or another)."""
    if joined and left and left < joined:
        raise DomainError(gettext("left is before joined"), code="invalid", field="left")
    if left is None and Membership.objects.filter(idol=idol, group=group, left__isnull=True).exists():
        raise Conflict(
            gettext("%(idol)s is already a member of %(group)s") % {"idol": idol.name, "group": group.name},
            code="duplicate",
        )
    membership = Membership.objects.create(idol=idol, group=group, joined=joined, left=left, notes=notes)
    idol_refresh_search_text(idol)
    return membership


@transaction.atomic
def membership_end(*, membership: Membership, left: date | None = None) -> Membership:
    left = left or timezone.localdate()
    if membership.left is not None:
        raise DomainError(gettext("this membership has ended already"), code="invalid")
    if membership.joined and left < membership.joined:
        raise DomainError(gettext("left is before joined"), code="invalid", field="left")
    membership.left = left
    membership.save(update_fields=["left"])
    idol_refresh_search_text(membership.idol)  # the typeahead shows current groups
    return membership


@transaction.atomic
def membership_update(
    *, membership: Membership, joined: date | None = _UNSET, left: date | None = _UNSET, notes: str | None = None
) -> Membership:
    """Correct a membership's dates or notes (``None`` clears a date; left out: unchanged)."""
    membership = Membership.objects.select_for_update().select_related("idol", "group").get(pk=membership.pk)
    if joined is not _UNSET:
        membership.joined = joined
    if left is not _UNSET:
        membership.left = left
    if notes is not None:
        membership.notes = notes[:500]
    if membership.joined and membership.left and membership.left < membership.joined:
        raise DomainError(gettext("left is before joined"), code="invalid", field="left")
    if (
        membership.left is None
        and Membership.objects.filter(idol=membership.idol, group=membership.group, left__isnull=True)
        .exclude(pk=membership.pk)
        .exists()
    ):
        raise Conflict(
            gettext("%(idol)s is already a member of %(group)s")
            % {"idol": membership.idol.name, "group": membership.group.name},
            code="duplicate",
        )
    membership.save()
    idol_refresh_search_text(membership.idol)
    return membership


@transaction.atomic
def membership_delete(*, membership: Membership) -> None:
    """Remove a membership entered by mistake (one that ended is ended, not deleted)."""
    idol = membership.idol
    membership.delete()
    idol_refresh_search_text(idol)


def refresh_group_members(group: IdolGroup) -> None:
    """After a group is renamed: its members' search text names the new name."""
    for idol in Idol.all_objects.filter(Q(memberships__group=group)).distinct():
        idol_refresh_search_text(idol)
