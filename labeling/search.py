"""The idol typeahead: names, readings, romaji, old names, aliases, handles and groups matched
in Python over a snapshot of the idol table, kept in the process until an idol changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max

from labeling.models import Idol, IdolAlias, Membership
from labeling.selectors import crop_url, label_count, latest_face_crop
from labeling.text import guess_reading, kana_romaji, name_key, romaji_key, search_fold


@dataclass
class IdolHit:
    id: int
    name: str
    reading: str
    status: str  # "active", "graduated", "retired", "other"
    rank: int
    matched: str = ""
    groups: list[str] = field(default_factory=list)
    faces: int = 0
    face: str = ""  # the URL of her latest labeled face's crop, to tell namesakes apart

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "reading": self.reading,
            "status": self.status,
            "matched": self.matched,
            "groups": self.groups,
            "faces": self.faces,
            "face": self.face,
        }


@dataclass(frozen=True)
class _Texts:
    """Texts an entry is ranked on, each also joined as "\n" + one text per line, so that "some
    text starts with the term" is one substring test in C: ``"\n" + term in starts``."""

    own: tuple[str, ...]
    lines: tuple[str, ...]
    own_starts: str  # the name and reading
    own_word_starts: str  # every word of them
    line_starts: str
    line_word_starts: str

    @classmethod
    def of(cls, own: tuple[str, ...], lines: tuple[str, ...]) -> _Texts:
        def joined(texts: Any) -> str:
            return "".join("\n" + text for text in texts)

        return cls(
            own,
            lines,
            joined(own),
            joined(part for text in own for part in text.split()),
            joined(lines),
            joined(part for line in lines for part in line.split()),
        )


def _rank(term: str, words: list[str], texts: _Texts) -> tuple[int, str]:
    """0: the name or reading starts with the term; 1: a word of the name or reading does
    (the given name), or an alias, handle or group starts with it; 2: a word inside any of
    those does; 3: it is only a substring."""
    own, lines = texts.own, texts.lines
    if "\n" + term in texts.own_starts:
        return 0, ""
    if "\n" + term in texts.own_word_starts:
        return 1, ""
    if "\n" + term in texts.line_starts:
        return 1, next(line for line in lines if line.startswith(term))
    first = words[0]
    if "\n" + first in texts.line_word_starts:
        line = next(line for line in lines if any(part.startswith(first) for part in line.split()))
        return 2, line if line not in own else ""
    return 3, next((line for line in lines if first in line and line not in own), "")


@dataclass(frozen=True)
class _Entry:
    id: int
    name: str
    reading: str
    status: str
    text: str
    lines: tuple[str, ...]
    own: tuple[str, ...]
    order: str
    groups: tuple[str, ...]
    romaji: tuple[str, ...] = ()  # the reading's (or a kana name's) romaji, as romaji_key spells it
    name_key: str = ""  # labeling.text.name_key of the name and of the reading
    reading_key: str = ""
    texts: _Texts | None = None  # own and lines, ready for _rank
    romaji_texts: _Texts | None = None  # the romaji as both
    romaji_text: str = ""  # the romaji, one a line


_snapshot: dict[str, Any] = {"version": None, "entries": (), "aliases": {}}


def _idol_entries() -> tuple[_Entry, ...]:
    """Every idol the typeahead may offer, kept in this process and read again only when the
    idol table changed: any write to an idol's names, aliases, handles or groups moves its
    ``updated_at`` (``idol_refresh_search_text``), and new idols move the count and the last id.
    One small aggregate query a search; the matching itself is plain Python over ~1,000 rows."""
    version = tuple(Idol.all_objects.aggregate(m=Max("updated_at"), n=Count("id"), x=Max("id")).values())
    if _snapshot["version"] == version:
        return _snapshot["entries"]
    entries = []
    rows = Idol.all_objects.exclude(deletion_reason=Idol.DeletionReason.MERGED).values_list(
        "pk", "name", "reading", "search_text", "deletion_reason"
    )
    groups: dict[int, list[str]] = {}
    for idol_id, group_name in (
        Membership.objects.filter(left__isnull=True).order_by("joined", "id").values_list("idol_id", "group__name")
    ):
        groups.setdefault(idol_id, []).append(group_name)
    for pk, name, reading, text, reason in rows:
        # Without a reading, the dictionary's guess stands in for it: 西野七瀬 is found as
        # にしの and nishino before anyone typed her reading.
        read = reading or guess_reading(name)
        own = (search_fold(name), search_fold(read)) if read else (search_fold(name),)
        # Kanji variants folded, and the names once more without their spaces (しらいしまい).
        lines = tuple(
            dict.fromkeys([*(search_fold(line) for line in text.split("\n")), *own, *(o.replace(" ", "") for o in own)])
        )
        spelled = [kana_romaji(source) for source in (read, name) if source]
        keys = [romaji_key(roman) for roman in spelled if roman.isascii()]
        romaji = tuple(dict.fromkeys(v for key in keys for v in (key, key.replace(" ", ""))))
        status = reason or "active"
        entries.append(
            _Entry(
                pk,
                name,
                reading,
                status,
                "\n".join(lines),
                lines,
                own,
                own[-1],
                tuple(groups.get(pk, ())),
                romaji,
                name_key(name),
                name_key(reading),
                _Texts.of(own, lines),
                _Texts.of(romaji, romaji),
                "\n".join(romaji),
            )
        )
    # Aliases and old names by key, for the picker's same-name check (idol_picker).
    aliases: dict[str, set[int]] = {}
    for idol_id, alias in IdolAlias.objects.exclude(idol__deletion_reason=Idol.DeletionReason.MERGED).values_list(
        "idol_id", "name"
    ):
        aliases.setdefault(name_key(alias), set()).add(idol_id)
    _snapshot.update(version=version, entries=tuple(entries), aliases=aliases)
    return _snapshot["entries"]


def idol_search(query: str, *, include_deleted: bool = False, limit: int = 15) -> list[IdolHit]:
    """The typeahead: idols whose name, reading, alias (old names too), handle or group
    contains every word of the query, kana, width and case folded (``はるか``, ``ハルカ`` and
    ``ﾊﾙｶ`` find the same idols). Prefix matches come before substring ones, active idols
    before graduated ones at the same rank; graduated and retired idols only with
    ``include_deleted``, merged ones never (their names are aliases of the idol they joined).

    Two queries: the idol table's version (see ``_idol_entries``) and the hits' face counts."""
    return _search(query, _idol_entries(), include_deleted=include_deleted, limit=limit)


def _search(
    query: str, entries: tuple[_Entry, ...], *, include_deleted: bool, limit: int, first: frozenset[int] = frozenset()
) -> list[IdolHit]:
    """``idol_search`` over ``entries``; the idols in ``first`` (graduated ones too) lead."""
    term = search_fold(query)
    words = term.split()
    if not words:
        return []
    # Typed in romaji (saito, siraisi mai): also matched against the readings' romaji.
    key = romaji_key(term) if term.isascii() and any(c.isalpha() for c in term) else ""
    ranked = []
    keys = key.split()
    # One word (most queries) is one substring test per idol: this loop runs over every idol.
    word = words[0] if len(words) == 1 else None
    roman = keys[0] if len(keys) == 1 else None
    for entry in entries:
        if entry.id in first:
            ranked.append((-1, entry.status != "active", entry.order, entry.id, entry, ""))
            continue
        if entry.status != "active" and not include_deleted:
            continue
        if word in entry.text if word is not None else all(w in entry.text for w in words):
            rank, matched = _rank(term, words, entry.texts)
        elif (
            keys
            and entry.romaji
            and (roman in entry.romaji_text if roman is not None else all(k in entry.romaji_text for k in keys))
        ):
            rank, _ = _rank(key, keys, entry.romaji_texts)
            matched = ""
        else:
            continue
        ranked.append((rank, entry.status != "active", entry.order, entry.id, entry, matched))
    ranked.sort(key=lambda r: r[:4])
    hits = [
        IdolHit(
            id=e.id,
            name=e.name,
            reading=e.reading,
            status=e.status,
            rank=max(rank, 0),
            matched=matched,
            groups=list(e.groups),
        )
        for rank, _, _, _, e, matched in ranked[: max(limit, len(first))]
    ]
    if not hits:
        return hits
    by_id = {h.id: h for h in hits}
    counts = (
        Idol.all_objects.filter(pk__in=by_id)
        .annotate(n=label_count(), crop=latest_face_crop())
        .order_by()
        .values_list("pk", "n", "crop")
    )
    for idol_id, count, crop in counts:
        by_id[idol_id].faces = count
        by_id[idol_id].face = crop_url(crop)
    return hits


@dataclass
class PickerAnswer:
    """The picker's answer: the hits, whether "Create" may be offered for the query (no idol
    has that name yet), and the idols that have it (``same_name``, among the hits, first)."""

    hits: list[IdolHit]
    create: bool
    same_name: list[int]

    def as_json(self) -> dict[str, Any]:
        return {"results": [h.as_json() for h in self.hits], "create": self.create, "same_name": self.same_name}


def idol_picker(query: str, *, include_deleted: bool = False, limit: int = 15) -> PickerAnswer:
    """``idol_search`` for the labeling pages' picker, which may offer to create the query as a
    new idol: not when it folds to an idol's name, reading, alias or old name (graduated ones
    too, as ``idol_create`` would refuse it: see labeling.services.names); those idols are
    shown first instead. The same two queries as ``idol_search``."""
    entries = _idol_entries()
    key = name_key(query)
    same: list[int] = []
    if key:
        # A query has no reading: any idol of that name or reading (or alias) is one the create
        # would hit.
        same = [e.id for e in entries if key in (e.name_key, e.reading_key)]
        same += sorted(_snapshot["aliases"].get(key, set()) - set(same))
        # Her whole reading typed in romaji (saitou asuka) names her as surely as the kana do.
        term = search_fold(query)
        if term.isascii() and any(c.isalpha() for c in term):
            roman = romaji_key(term).replace(" ", "")
            same += [e.id for e in entries if roman and roman in e.romaji and not e.name.isascii() and e.id not in same]
    hits = _search(query, entries, include_deleted=include_deleted, limit=limit, first=frozenset(same))
    return PickerAnswer(hits=hits, create=bool(key) and not same, same_name=same)
