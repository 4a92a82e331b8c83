"""Idols: create, update, aliases, graduate and restore, rename, merge, and the folded search
text the typeahead and the admin search read."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import Conflict, DomainError
from faces.db import atomic_retrying
from labeling.models import FaceLabel, How, Idol, IdolAlias, IdolGroup, LabelEvent, Membership
from labeling.services._common import User, _event
from labeling.services.labels import lock_faces
from labeling.services.names import DuplicateIdol, duplicate_message, idol_name_check, same_name_idols
from labeling.signals import labels_changed
from labeling.text import fold, name_key


def idol_search_text(
    *,
    name: str,
    reading: str = "",
    aliases: Iterable[str] = (),
    handles: dict | None = None,
    groups: Iterable[str] = (),
) -> str:
    """The folded search text: one line each for the name, the reading, the aliases, the
    handles and the groups (names and readings), in that order, without repeats. The first
    lines are the idol's own names: the typeahead ranks a match there first."""
    parts = [name, reading, *aliases, *(str(h) for h in (handles or {}).values() if h), *groups]
    return "\n".join(dict.fromkeys(fold(p) for p in parts if p))


def idol_refresh_search_text(idol: Idol) -> None:
    """Recompute the folded text the typeahead and the admin search: name, reading, aliases,
    handles and every group the idol was ever in."""
    groups = IdolGroup.objects.filter(memberships__idol=idol).values_list("name", "reading").distinct()
    aliases = list(IdolAlias.objects.filter(idol=idol).values_list("pk", "name", "name_key"))
    text = idol_search_text(
        name=idol.name,
        reading=idol.reading,
        aliases=[alias for _, alias, _ in aliases],
        handles=idol.handles,
        groups=[part for pair in groups for part in pair],
    )
    # Aliases added in bulk (a merge) come without their key; the duplicate check reads it.
    for pk, alias, key in aliases:
        if key != name_key(alias):
            IdolAlias.objects.filter(pk=pk).update(name_key=name_key(alias))
    keys = {"name_key": name_key(idol.name), "reading_key": name_key(idol.reading)}
    # updated_at moves too: the typeahead's cache of the idol list watches it.
    Idol.all_objects.filter(pk=idol.pk).update(search_text=text, updated_at=timezone.now(), **keys)
    idol.search_text, idol.name_key, idol.reading_key = text, keys["name_key"], keys["reading_key"]


def _clean_name(name: str, what: str = "name") -> str:
    name = " ".join((name or "").split())
    alias = what == "alias"
    if not name:
        message = gettext("the alias is empty") if alias else gettext("the name is empty")
        raise DomainError(message, code="invalid", field=what)
    if len(name) > 200:
        message = (
            gettext("the alias is longer than 200 characters")
            if alias
            else gettext("the name is longer than 200 characters")
        )
        raise DomainError(message, code="invalid", field=what)
    return name


def _check_handles(handles: dict | None) -> dict[str, str]:
    if handles is None:
        return {}
    if not isinstance(handles, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in handles.items()):
        raise DomainError(
            gettext('handles must map platform names to handles, e.g. {"x": "name"}'), code="invalid", field="handles"
        )
    return {k.strip().lower(): v.strip().lstrip("@") for k, v in handles.items() if k.strip() and v.strip()}


@transaction.atomic
def idol_create(
    *,
    name: str,
    reading: str = "",
    aliases: Iterable[str] = (),
    handles: dict[str, str] | None = None,
    notes: str = "",
    group: IdolGroup | None = None,
    joined: date | None = None,
    same_name_ok: bool = False,
) -> Idol:
    """A new idol. Refused with DuplicateIdol when another idol (graduated ones too) has the
    same folded name, reading or alias (``labeling.services.names``), unless ``same_name_ok``
    says she is another person with the same name."""
    name, reading = _clean_name(name), " ".join(reading.split())
    idol_name_check(name=name, reading=reading, same_name_ok=same_name_ok)
    idol = Idol.objects.create(
        name=name, reading=reading, handles=_check_handles(handles), notes=notes, same_name_ok=same_name_ok
    )
    for alias in dict.fromkeys(" ".join(a.split()) for a in aliases):
        if alias and alias != idol.name:
            IdolAlias.objects.create(idol=idol, name=_clean_name(alias, "alias"), kind=IdolAlias.Kind.OTHER)
    if group is not None:
        Membership.objects.create(idol=idol, group=group, joined=joined)
    idol_refresh_search_text(idol)
    return idol


@transaction.atomic
def idol_update(
    *,
    idol: Idol,
    reading: str | None = None,
    handles: dict | None = None,
    notes: str | None = None,
    aliases: Iterable[str] | None = None,
    same_name_ok: bool | None = None,
) -> Idol:
    """Change an idol's details other than the name (see ``idol_rename``). ``aliases``, when
    given, become her aliases: names kept keep their kind (old names stay old names), new ones
    are added, the others go."""
    idol = Idol.all_objects.select_for_update().get(pk=idol.pk)
    if same_name_ok is not None:
        idol.same_name_ok = same_name_ok
    if reading is not None and " ".join(reading.split()) != idol.reading:
        _check_new_reading(idol, " ".join(reading.split()))
        idol.reading = " ".join(reading.split())
    if handles is not None:
        idol.handles = _check_handles(handles)
    if notes is not None:
        idol.notes = notes
    idol.save()
    if aliases is not None:
        names = [_clean_name(a, "alias") for a in aliases]
        wanted = [n for n in dict.fromkeys(names) if n != idol.name]
        IdolAlias.objects.filter(idol=idol).exclude(name__in=wanted).delete()
        have = set(IdolAlias.objects.filter(idol=idol).values_list("name", flat=True))
        IdolAlias.objects.bulk_create(
            [
                IdolAlias(idol=idol, name=n, kind=IdolAlias.Kind.OTHER, name_key=name_key(n))
                for n in wanted
                if n not in have
            ]
        )
    idol_refresh_search_text(idol)
    return idol


def _check_new_reading(idol: Idol, reading: str) -> None:
    """A new reading may make her name the same as another idol's (both readings now equal):
    refused like a rename, unless she was created as a namesake. Idols she already shared her
    name with before the change are not held against her."""
    if idol.same_name_ok:
        return
    before = {i.pk for i in same_name_idols(name=idol.name, reading=idol.reading, exclude=idol.pk)}
    after = [i for i in same_name_idols(name=idol.name, reading=reading, exclude=idol.pk) if i.pk not in before]
    if after:
        raise DuplicateIdol(duplicate_message(idol.name, after, renaming=True), matches=after, renaming=idol)


@transaction.atomic
def idol_alias_add(*, idol: Idol, name: str, kind: str = IdolAlias.Kind.OTHER) -> IdolAlias:
    name = _clean_name(name, "alias")
    if name == idol.name:
        raise DomainError(gettext("an alias cannot be the idol's own name"), code="invalid", field="alias")
    alias, _ = IdolAlias.objects.get_or_create(idol=idol, name=name, defaults={"kind": kind})
    idol_refresh_search_text(idol)
    return alias


@transaction.atomic
def idol_soft_delete(*, idol: Idol, reason: str = Idol.DeletionReason.GRADUATED, user: User = None) -> Idol:
    """Graduate (or retire) an idol: she leaves the typeahead, keeps every label and stays known
    to the recognizer (her old photos keep coming); ``other`` (e.g. created by mistake) takes her
    out of training and suggestions too. She can come back with ``idol_restore``."""
    if reason not in Idol.DeletionReason.values or reason == Idol.DeletionReason.MERGED:
        raise DomainError(
            gettext("unknown reason %(reason)r (use graduated, retired or other)") % {"reason": reason},
            code="invalid",
            field="reason",
        )
    idol = Idol.all_objects.select_for_update().get(pk=idol.pk)
    if idol.is_deleted:
        raise Conflict(
            gettext("%(name)s is already %(state)s")
            % {"name": idol.name, "state": idol.get_deletion_reason_display().lower()},
            code="already_deleted",
        )
    idol.deleted_at = timezone.now()
    idol.deletion_reason = reason
    idol.save(update_fields=["deleted_at", "deletion_reason", "updated_at"])
    if reason not in Idol.RECOGNIZABLE_REASONS:  # her labels leave the training set
        labels_changed.send(sender=Idol, events=[])
    return idol


@transaction.atomic
def idol_restore(*, idol: Idol, user: User = None) -> Idol:
    """Bring back a graduated or retired idol, with all her labels."""
    idol = Idol.all_objects.select_for_update().get(pk=idol.pk)
    if not idol.is_deleted:
        raise Conflict(gettext("%(name)s is active; nothing to restore") % {"name": idol.name}, code="not_deleted")
    if idol.deletion_reason == Idol.DeletionReason.MERGED:
        raise Conflict(
            gettext("%(name)s was merged into idol %(into)s; a merge cannot be restored")
            % {"name": idol.name, "into": idol.merged_into_id},
            code="merged_idol",
        )
    was_recognizable = idol.is_recognizable
    idol.deleted_at = None
    idol.deletion_reason = ""
    idol.save(update_fields=["deleted_at", "deletion_reason", "updated_at"])
    if not was_recognizable:  # her labels train again
        labels_changed.send(sender=Idol, events=[])
    return idol


@transaction.atomic
def idol_rename(
    *, idol: Idol, name: str, reading: str | None = None, user: User = None, same_name_ok: bool = False
) -> Idol:
    """Rename an idol; the old name becomes an alias, so searching it still finds her. A name
    another idol has (or had: an alias) is refused with DuplicateIdol, which offers to merge
    the two instead, unless ``same_name_ok`` says they are two people."""
    name = _clean_name(name)
    idol = Idol.all_objects.select_for_update().get(pk=idol.pk)
    if name == idol.name:
        raise Conflict(gettext("%(name)s already has that name") % {"name": idol.name}, code="unchanged", field="name")
    new_reading = " ".join(reading.split()) if reading is not None else idol.reading
    idol_name_check(name=name, reading=new_reading, idol=idol, same_name_ok=same_name_ok)
    old = idol.name
    IdolAlias.objects.filter(idol=idol, name=name).delete()  # the new name is no longer an alias
    IdolAlias.objects.update_or_create(idol=idol, name=old, defaults={"kind": IdolAlias.Kind.OLD_NAME})
    idol.name = name
    idol.reading = new_reading
    idol.same_name_ok = idol.same_name_ok or same_name_ok
    idol.save(update_fields=["name", "reading", "same_name_ok", "updated_at"])
    idol_refresh_search_text(idol)
    return idol


@atomic_retrying
def idol_merge(*, keep: Idol, drop: Idol, user: User = None) -> Idol:
    """Merge ``drop`` into ``keep`` (two records of one person). Every label, alias, handle,
    membership and note of ``drop`` moves to ``keep``; each moved label is recorded; ``drop``
    stays as a deleted idol pointing at ``keep``. Nothing is lost."""
    if keep.pk == drop.pk:
        raise DomainError(gettext("an idol cannot be merged into herself"), code="invalid")
    # NO KEY UPDATE: labelers adding a label of either idol meanwhile (a key-share lock on the
    # idol) are not blocked while this waits for their faces, so the two cannot deadlock.
    keep = Idol.all_objects.select_for_update(no_key=True).get(pk=keep.pk)
    drop = Idol.all_objects.select_for_update(no_key=True).get(pk=drop.pk)
    for idol in (keep, drop):
        if idol.deletion_reason == Idol.DeletionReason.MERGED:
            raise Conflict(
                gettext("%(name)s was already merged into idol %(into)s")
                % {"name": idol.name, "into": idol.merged_into_id},
                code="merged_idol",
            )
    batch = uuid.uuid4()
    note = f"merged {drop.name} (#{drop.pk}) into {keep.name} (#{keep.pk})"

    # Labels: faces already labeled with keep lose only the duplicate label. Their faces are
    # locked in id order first, as every label change does.
    lock_faces(list(FaceLabel.objects.filter(idol=drop).values_list("face_id", flat=True)))
    labels = list(FaceLabel.objects.filter(idol=drop))
    has_keep = set(
        FaceLabel.objects.filter(idol=keep, face_id__in=[lb.face_id for lb in labels]).values_list("face_id", flat=True)
    )
    events: list[LabelEvent] = []
    for label in labels:
        events.append(
            _event(
                face_id=label.face_id,
                idol_id=drop.pk,
                action=LabelEvent.Action.LABEL_REMOVED,
                how=How.MERGE,
                batch=batch,
                user=user,
                note=f"{note}; was {label.how}",
            )
        )
        if label.face_id not in has_keep:
            events.append(
                _event(
                    face_id=label.face_id,
                    idol_id=keep.pk,
                    action=LabelEvent.Action.LABEL_ADDED,
                    how=How.MERGE,
                    batch=batch,
                    user=user,
                    note=note,
                )
            )
    FaceLabel.objects.filter(idol=drop, face_id__in=has_keep).delete()
    FaceLabel.objects.filter(idol=drop).update(idol=keep)
    LabelEvent.objects.bulk_create(events, batch_size=500)

    # Names: drop's name and aliases become keep's aliases.
    names = {drop.name: IdolAlias.Kind.OTHER, **dict(IdolAlias.objects.filter(idol=drop).values_list("name", "kind"))}
    if drop.reading and drop.reading != keep.reading:
        names.setdefault(drop.reading, IdolAlias.Kind.OTHER)
    taken = set(IdolAlias.objects.filter(idol=keep).values_list("name", flat=True)) | {keep.name}
    IdolAlias.objects.bulk_create(
        [IdolAlias(idol=keep, name=n, kind=k, name_key=name_key(n)) for n, k in names.items() if n not in taken]
    )

    # Handles: keep's win; drop's other accounts are added, clashing ones go into the notes.
    handles = dict(keep.handles or {})
    extra_notes = []
    for platform, handle in (drop.handles or {}).items():
        if platform not in handles:
            handles[platform] = handle
        elif handles[platform] != handle:
            extra_notes.append(f"{platform}: {handle}")
    keep.handles = handles
    notes = [keep.notes] if keep.notes else []
    if drop.notes:
        notes.append(gettext("From %(name)s: %(notes)s") % {"name": drop.name, "notes": drop.notes})
    if extra_notes:
        notes.append(
            gettext("Other handles of %(name)s: %(handles)s") % {"name": drop.name, "handles": ", ".join(extra_notes)}
        )
    keep.notes = "\n\n".join(notes)

    # Memberships: moved; two open ones in the same group become one, joined at the earlier date.
    for membership in Membership.objects.filter(idol=drop).select_related("group"):
        clash = None
        if membership.left is None:
            clash = Membership.objects.filter(idol=keep, group=membership.group, left__isnull=True).first()
        if clash is not None:
            if membership.joined and (clash.joined is None or membership.joined < clash.joined):
                clash.joined = membership.joined
            clash.notes = "; ".join(
                filter(None, [clash.notes, membership.notes, gettext("merged from %(name)s") % {"name": drop.name}])
            )[:500]
            clash.save()
            membership.delete()
        else:
            membership.idol = keep
            membership.save(update_fields=["idol"])

    keep.save()
    drop.deleted_at = timezone.now()
    drop.deletion_reason = Idol.DeletionReason.MERGED
    drop.merged_into = keep
    drop.save(update_fields=["deleted_at", "deletion_reason", "merged_into", "updated_at"])
    idol_refresh_search_text(keep)
    return keep
