"""Same-name idols: an idol whose folded name (``labeling.text.name_key``) is another idol's
name, reading, alias or old name is most likely the same person added twice. Creating or
renaming one is refused with ``DuplicateIdol`` (naming the idols she would duplicate), unless
the caller says she is another person with the same name (``same_name_ok``).

Graduated and retired idols count (a graduated 齋藤飛鳥 still blocks a new one); merged ones
do not (their names are aliases of the idol they joined). Two people may share a name when
both have a reading and the readings differ (the same kanji read two ways).

Every create and rename checks here, inside its transaction and under a lock on the name
(``lock_name``), so two people creating one name at the same moment cannot both succeed."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import connection
from django.db.models import F, Q
from django.utils.translation import gettext as _

from core.errors import DomainError
from labeling.models import Idol, IdolAlias
from labeling.text import name_key, names_clash


class DuplicateIdol(DomainError):
    """The name is taken by the idols in ``matches`` (the likeliest first). When renaming, the
    answer offers to merge the renamed idol into the first instead."""

    code = "duplicate_idol"

    def __init__(self, message: str, *, matches: list[Idol], renaming: Idol | None = None) -> None:
        super().__init__(message, field="name")
        self.matches = matches
        self.renaming = renaming

    @property
    def existing(self) -> Idol:
        return self.matches[0]

    @property
    def extra(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "existing": self.existing.pk,
            "matches": [{"id": i.pk, "name": i.name, "reading": i.reading, "status": i.status} for i in self.matches],
        }
        if self.renaming is not None:
            body["merge"] = {"idol": self.renaming.pk, "into": self.existing.pk}
            body["hint"] = _("If they are one person, merge idol %(idol)d into idol %(into)d instead.") % {
                "idol": self.renaming.pk,
                "into": self.existing.pk,
            }
        else:
            body["hint"] = _("If she is another person with the same name, send same_name_ok: true.")
        return body


def same_name_idols(*, name: str, reading: str = "", exclude: int | None = None) -> list[Idol]:
    """The idols a new idol called ``name`` (read ``reading``) would likely duplicate, active
    ones first: those whose name or reading folds to the same key (unless both readings are
    known and differ), and those with an alias or old name that does. Merged idols never; the idol
    ``exclude`` (the one being renamed) neither. One query."""
    key = name_key(name)
    if not key:
        return []
    reading_key = name_key(reading)
    found = (
        Idol.all_objects.exclude(deletion_reason=Idol.DeletionReason.MERGED)
        .filter(
            Q(name_key=key) | Q(reading_key=key) | Q(pk__in=IdolAlias.objects.filter(name_key=key).values("idol_id"))
        )
        .order_by(F("deleted_at").asc(nulls_first=True), "id")
    )
    if exclude is not None:
        found = found.exclude(pk=exclude)
    matches = []
    for idol in found:
        by_name = key in (idol.name_key, idol.reading_key)
        if by_name and not names_clash(
            key=key, reading_key=reading_key, other_key=idol.name_key, other_reading_key=idol.reading_key
        ):
            continue  # the same kanji, another reading: another person
        idol.matched_alias = not by_name
        matches.append(idol)
    return matches


def describe(idol: Idol) -> str:
    """How a message names an existing idol: 齋藤飛鳥 (さいとう あすか, #12, graduated)."""
    parts = [idol.reading] if idol.reading else []
    parts.append(f"#{idol.pk}")
    if idol.is_deleted:
        parts.append(idol.get_deletion_reason_display().lower())
    text = f"{idol.name} ({', '.join(parts)})"
    if getattr(idol, "matched_alias", False):
        return _("%(idol)s, whose alias or old name it is") % {"idol": text}
    return text


def duplicate_message(name: str, matches: list[Idol], *, renaming: bool = False) -> str:
    existing = "; ".join(describe(i) for i in matches)
    if renaming:
        return _(
            "“%(name)s” is already an idol: %(existing)s. If they are one person, merge them instead; "
            "if she is another person with the same name, say so."
        ) % {"name": name, "existing": existing}
    return _("“%(name)s” is already an idol: %(existing)s. If she is another person with the same name, say so.") % {
        "name": name,
        "existing": existing,
    }


def _lock_id(key: str) -> int:
    digest = hashlib.blake2b(f"idol-name:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_name(key: str) -> None:
    """Hold the name until the transaction ends: a second writer of the same name waits here,
    then sees the first one's idol. PostgreSQL: a transaction-level advisory lock. SQLite runs
    one writing transaction at a time (IMMEDIATE), which serializes the check already."""
    if key and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_id(key)])


def idol_name_check(*, name: str, reading: str = "", idol: Idol | None = None, same_name_ok: bool = False) -> None:
    """Inside the transaction that creates ``name`` (or renames ``idol`` to it): lock the name,
    then refuse it with DuplicateIdol when another idol has it, unless ``same_name_ok``."""
    lock_name(name_key(name))
    if same_name_ok:
        return
    matches = same_name_idols(name=name, reading=reading, exclude=idol.pk if idol is not None else None)
    if matches:
        raise DuplicateIdol(duplicate_message(name, matches, renaming=idol is not None), matches=matches, renaming=idol)
