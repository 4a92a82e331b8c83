"""Backups of a whole site: ``backup_create`` writes the database, a manifest of every media and
model file (key, size, sha256) and, unless told not to, the files themselves into a new folder;
``backup_restore`` puts them back into an empty database and storage, checking every hash, then
migrates forward and checks the main tables' counts.

A backup folder:
    backup.json      written last: time, engine, migration state, counts, the database file's hash
    database.sqlite3 or database.pgdump
    manifest.jsonl   one file a line: {"area": "media"|"models", "key", "size", "sha256"}
    media/<key>, models/<key>   the files (absent with ``files=False``)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import django
from django.core.cache import cache
from django.core.files import File
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from backups.database import DUMP_FILES, dump, engine, restore
from backups.errors import BackupError
from backups.files import AREAS, MEDIA, MODELS, Entry, copy_hashing, safe_key, storage_for, stored_hash, walk
from classifier.models import ModelVersion
from classifier.services.versions import forget_loaded
from core.files import PRIVATE_FILE, make_private_dirs
from faces.models import Face, Photo
from labeling.models import FaceLabel, Idol, LabelEvent
from labeling.selectors import UNLABELED_TOTAL_KEY

FORMAT = 1
INFO_FILE = "backup.json"
MANIFEST_FILE = "manifest.jsonl"
# The tables whose counts a backup records and a restore must find again.
COUNTED: dict[str, type[Model]] = {
    "photos": Photo,
    "faces": Face,
    "labels": FaceLabel,
    "label_events": LabelEvent,
    "idols": Idol,
    "model_versions": ModelVersion,
}
# A database holding any of these is someone's work: a restore refuses to overwrite it unforced.
PRECIOUS = ("photos", "faces", "labels")
LISTED_PROBLEMS = 20

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


@dataclass(frozen=True)
class Backup:
    path: Path
    info: dict[str, Any]


def backup_create(*, dest: Path, files: bool = True, log: Log = _quiet) -> Backup:
    """Write a backup into the new folder ``dest`` (refused when it exists and is not empty).
    It is written beside it as ``<dest>.partial-*`` and renamed when complete, so a folder named
    ``dest`` is always a whole backup."""
    dest = Path(dest).absolute()
    _check_destination(dest)
    partial = Path(tempfile.mkdtemp(prefix=f"{dest.name}.partial-", dir=dest.parent))  # owner-only
    try:
        info = _write_backup(partial, files=files, log=log)
        _check_destination(dest)  # nothing appeared there meanwhile
        partial.rename(dest)  # replaces an empty folder, never a full one
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _fsync(dest.parent)
    return Backup(dest, info)


def _check_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(gettext("%(path)s already exists and is not an empty folder") % {"path": dest})
    if not dest.parent.is_dir():
        raise BackupError(gettext("%(path)s: no such folder") % {"path": dest.parent})


def _write_backup(folder: Path, *, files: bool, log: Log) -> dict[str, Any]:
    db_engine = engine()
    database_file = folder / DUMP_FILES[db_engine]
    started = timezone.now()
    with dump(database_file) as cursor:
        facts = _read_facts(cursor)
    _fsync(database_file)
    with database_file.open("rb") as stream:
        database_size, database_sha256 = copy_hashing(stream)
    log(gettext("Database copied (%(engine)s, %(size)s bytes).") % {"engine": db_engine, "size": database_size})

    # The files after the database: one added meanwhile is an extra, one erased meanwhile (a
    # photo purged from the trash) is no longer in the database either and is left out.
    keys: list[tuple[str, Iterable[str]]] = [
        (MEDIA, walk(storage_for(MEDIA))),
        (MODELS, (key for directory in facts["model_directories"] for key in walk(storage_for(MODELS), directory))),
    ]
    totals = {area: {"count": 0, "bytes": 0} for area in AREAS}
    with _private_text(folder / MANIFEST_FILE) as manifest:
        for area, area_keys in keys:
            for key in area_keys:
                entry = _save_file(area, key, folder if files else None)
                if entry is None:
                    continue
                manifest.write(json.dumps(entry.as_dict(), ensure_ascii=False) + "\n")
                totals[area]["count"] += 1
                totals[area]["bytes"] += entry.size
        manifest.flush()
        os.fsync(manifest.fileno())
    counted = {"media": totals[MEDIA]["count"], "models": totals[MODELS]["count"]}
    if files:
        log(gettext("%(media)s media file(s) and %(models)s model file(s) copied and listed.") % counted)
    else:
        log(gettext("%(media)s media file(s) and %(models)s model file(s) listed (not copied).") % counted)
    info = {
        "format": FORMAT,
        "created": started.isoformat(),
        "finished": timezone.now().isoformat(),
        "engine": db_engine,
        "django": django.get_version(),
        "database": {"file": database_file.name, "size": database_size, "sha256": database_sha256},
        "migrations": facts["migrations"],
        "counts": facts["counts"],
        "files_included": files,
        "files": totals,
    }
    info_file = folder / INFO_FILE
    with _private_text(info_file) as out:
        out.write(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())
    _fsync(folder)
    return info


def _read_facts(cursor: Any) -> dict[str, Any]:
    """Counts, the latest applied migration of each app and the model folders, read through a
    DB-API cursor on the very state that was copied."""
    quote = connection.ops.quote_name
    counts = {}
    for name, model in COUNTED.items():
        cursor.execute(f"SELECT COUNT(*) FROM {quote(model._meta.db_table)}")
        counts[name] = cursor.fetchone()[0]
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
    migrations = dict(cursor.fetchall())  # the last applied of each app wins
    cursor.execute(f"SELECT directory FROM {quote(ModelVersion._meta.db_table)} ORDER BY id")
    return {
        "counts": counts,
        "migrations": dict(sorted(migrations.items())),
        "model_directories": [row[0] for row in cursor.fetchall()],
    }


def _save_file(area: str, key: str, folder: Path | None) -> Entry | None:
    """Hash a stored file (and copy it under ``folder/area/`` when given); None when it vanished."""
    storage = storage_for(area)
    try:
        with storage.open(key, "rb") as source:
            if folder is None:
                size, sha256 = copy_hashing(source)
            else:
                target = folder / area / key
                make_private_dirs(target.parent)
                with os.fdopen(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE), "wb") as out:
                    size, sha256 = copy_hashing(source, out)
                    out.flush()
                    os.fsync(out.fileno())
    except FileNotFoundError:
        return None
    return Entry(area=area, key=key, size=size, sha256=sha256)


def _private_text(path: Path) -> TextIO:
    return os.fdopen(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE), "w", encoding="utf-8")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- restore -------------------------------------------------------------------------------------


def backup_restore(*, src: Path, force: bool = False, log: Log = _quiet) -> Backup:
    """Restore the backup in ``src`` into the configured database and storage, which must be
    empty (``force``: the database's rows and differing files are replaced). Everything about
    the backup is checked before anything is written: its files' hashes, the engine, the
    migrations it knows. Then the database, the files (each checked once stored), ``migrate``
    (an older backup's schema moves forward) and the counts."""
    src = Path(src).absolute()
    info = _read_info(src)
    db_engine = engine()
    if info["engine"] != db_engine:
        raise BackupError(
            gettext(
                "This backup is of a %(backup)s database and this site uses %(site)s: a backup restores only "
                "into the same kind of database"
            )
            % {"backup": info["engine"], "site": db_engine}
        )
    _check_known_migrations(info["migrations"])
    entries = _read_manifest(src)
    problems = _check_backup(src, info, entries)
    if problems:
        raise BackupError(_listing(gettext("The backup is damaged: nothing was restored."), problems))
    if not info["files_included"]:
        # The files stayed in their storage (it keeps its own versions): they must be there as listed.
        problems = [f"{e.area}/{e.key}: {why}" for e in entries if (why := _stored_problem(e))]
        if problems:
            raise BackupError(
                _listing(
                    gettext("Files of this backup are missing or differ in storage: nothing was restored."), problems
                )
            )
    _check_target(entries if info["files_included"] else [], force=force)

    restore(src / info["database"]["file"], db_engine)
    log(gettext("Database restored."))
    if info["files_included"]:
        written, problems = _put_files(src, entries)
        if problems:
            raise BackupError(_listing(gettext("Files could not be restored as listed:"), problems))
        log(
            gettext("%(written)s of %(count)s files written (the others were there already).")
            % {"written": written, "count": len(entries)}
        )
    call_command("migrate", interactive=False, verbosity=0)
    counts = {name: model._base_manager.count() for name, model in COUNTED.items()}
    if counts != info["counts"]:
        differences = [
            gettext("%(table)s: %(found)s, the backup says %(expected)s")
            % {"table": name, "found": counts.get(name), "expected": info["counts"].get(name)}
            for name in COUNTED
            if counts.get(name) != info["counts"].get(name)
        ]
        raise BackupError(
            _listing(gettext("The restored database does not hold what the backup counted:"), differences)
        )
    # Nothing a process kept from the database before is true any more.
    cache.delete(UNLABELED_TOTAL_KEY)
    forget_loaded()
    return Backup(src, info)


def _read_info(src: Path) -> dict[str, Any]:
    try:
        info = json.loads((src / INFO_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(
            gettext("%(path)s is not a complete backup (it has no %(file)s)") % {"path": src, "file": INFO_FILE}
        ) from None
    except (OSError, ValueError) as exc:
        raise BackupError(
            gettext("%(path)s cannot be read: %(error)s") % {"path": src / INFO_FILE, "error": exc}
        ) from None
    if not isinstance(info, dict) or info.get("format") != FORMAT or info.get("engine") not in DUMP_FILES:
        raise BackupError(gettext("%(path)s is not a backup this version can read") % {"path": src / INFO_FILE})
    return info


def _check_known_migrations(migrations: dict[str, str]) -> None:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    unknown = sorted(
        f"{app}.{name}"
        for app, name in migrations.items()
        if app in loader.migrated_apps and (app, name) not in loader.disk_migrations
    )
    if unknown:
        raise BackupError(
            gettext("This backup comes from a newer version of the site (migrations unknown here: %(names)s)")
            % {"names": ", ".join(unknown)}
        )


def _read_manifest(src: Path) -> list[Entry]:
    entries = []
    try:
        lines = (src / MANIFEST_FILE).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BackupError(
            gettext("%(path)s cannot be read: %(error)s") % {"path": src / MANIFEST_FILE, "error": exc}
        ) from None
    for number, line in enumerate(lines, start=1):
        try:
            raw = json.loads(line)
            entry = Entry(area=raw["area"], key=raw["key"], size=int(raw["size"]), sha256=str(raw["sha256"]))
        except (ValueError, KeyError, TypeError):
            entry = None
        if entry is None or entry.area not in AREAS or not isinstance(entry.key, str) or not safe_key(entry.key):
            raise BackupError(
                gettext("%(file)s, line %(line)s: not a file of a backup") % {"file": MANIFEST_FILE, "line": number}
            )
        entries.append(entry)
    return entries


def _check_backup(src: Path, info: dict[str, Any], entries: list[Entry]) -> list[str]:
    """What in the backup folder differs from what it recorded: the database file and each file."""
    problems = []
    database = info["database"]
    found = _file_hash(src / database["file"])
    if found != (database["size"], database["sha256"]):
        problems.append(f"{database['file']}: " + (gettext("missing") if found is None else gettext("sha256 differs")))
    if info["files_included"]:
        for entry in entries:
            found = _file_hash(src / entry.area / entry.key)
            if found != (entry.size, entry.sha256):
                problems.append(
                    f"{entry.area}/{entry.key}: " + (gettext("missing") if found is None else gettext("sha256 differs"))
                )
    return problems


def _file_hash(path: Path) -> tuple[int, str] | None:
    try:
        with path.open("rb") as stream:
            return copy_hashing(stream)
    except (FileNotFoundError, IsADirectoryError):
        return None


def _stored_problem(entry: Entry) -> str | None:
    found = stored_hash(storage_for(entry.area), entry.key)
    if found is None:
        return gettext("missing")
    if found != (entry.size, entry.sha256):
        return gettext("sha256 differs")
    return None


def _check_target(entries: list[Entry], *, force: bool) -> None:
    """The database holds no photo, face or label and the storage no file other than the
    backup's own (unless ``force``)."""
    held = _precious_rows()
    if held and not force:
        raise BackupError(
            gettext(
                "The database is not empty (%(rows)s): restore only into an empty database, or add --force to erase it"
            )
            % {"rows": ", ".join(f"{name}: {count}" for name, count in held.items())}
        )
    listed = {(e.area, e.key) for e in entries}
    differing = [
        f"{e.area}/{e.key}"
        for e in entries
        if (found := stored_hash(storage_for(e.area), e.key)) is not None and found != (e.size, e.sha256)
    ]
    media = storage_for(MEDIA)
    extra = [f"{MEDIA}/{key}" for key in walk(media) if (MEDIA, key) not in listed] if entries else []
    if (differing or extra) and not force:
        raise BackupError(
            _listing(
                gettext(
                    "The storage already holds other files: restore only into an empty storage, or add --force "
                    "to replace them"
                ),
                differing + extra,
            )
        )


def _precious_rows() -> dict[str, int]:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        held = {}
        for name in PRECIOUS:
            table = COUNTED[name]._meta.db_table
            if table in tables:
                cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")
                if count := cursor.fetchone()[0]:
                    held[name] = count
    return held


def _put_files(src: Path, entries: list[Entry]) -> tuple[int, list[str]]:
    """Store each file under its key, then read it back from the storage to check its hash:
    how many were written, and what went wrong."""
    written, problems = 0, []
    for entry in entries:
        storage = storage_for(entry.area)
        found = stored_hash(storage, entry.key)
        if found == (entry.size, entry.sha256):
            continue  # already there, the same (a second run, or storage that kept it)
        if found is not None:
            storage.delete(entry.key)  # _check_target allowed it: --force
        with (src / entry.area / entry.key).open("rb") as stream:
            name = storage.save(entry.key, File(stream, name=entry.key))
        written += 1
        if name != entry.key:
            problems.append(f"{entry.area}/{entry.key}: " + gettext("stored as %(name)s") % {"name": name})
        elif (problem := _stored_problem(entry)) is not None:
            problems.append(f"{entry.area}/{entry.key}: {problem}")
    return written, problems


def _listing(headline: str, lines: list[str]) -> str:
    shown = lines[:LISTED_PROBLEMS]
    more = len(lines) - len(shown)
    tail = [ngettext("... and %(count)s more", "... and %(count)s more", more) % {"count": more}] if more else []
    return "\n  ".join([headline, *shown, *tail])
