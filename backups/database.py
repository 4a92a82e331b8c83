"""The database half of a backup: a consistent copy taken while the site runs (SQLite's online
backup API; ``pg_dump`` inside one exported snapshot) and its restore into the configured
database. Connection parameters come from the settings; a password travels in ``PGPASSWORD``,
never on a command line."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.db.backends.postgresql.client import DatabaseClient
from django.utils.translation import gettext

from backups.errors import BackupError
from core.files import PRIVATE_FILE

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
DUMP_FILES = {SQLITE: "database.sqlite3", POSTGRESQL: "database.pgdump"}


def engine() -> str:
    if connection.vendor not in DUMP_FILES:
        raise BackupError(
            gettext("Backups support SQLite and PostgreSQL, not %(engine)s") % {"engine": connection.vendor}
        )
    return connection.vendor


@contextmanager
def dump(path: Path) -> Iterator[Any]:
    """Write the database to ``path`` and yield a DB-API cursor that reads the same state as the
    copy (for the backup's counts and the model folders to save)."""
    if engine() == SQLITE:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE))
        connection.ensure_connection()
        with closing(sqlite3.connect(path)) as copy:
            # One step (pages=-1) holds the read lock for the whole copy: one consistent state.
            connection.connection.backup(copy)
            # A self-contained file: no -wal beside it to forget.
            copy.execute("PRAGMA journal_mode=DELETE")
            with closing(copy.cursor()) as cursor:
                yield cursor
        return
    if connection.in_atomic_block:
        raise BackupError(gettext("A backup cannot be taken inside a transaction"))
    with transaction.atomic(), connection.cursor() as cursor:
        # pg_dump reads the very snapshot this transaction sees, so the counts match the dump.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
        _pg_run("pg_dump", ["--format=custom", f"--snapshot={snapshot}", f"--file={path}"])
        path.chmod(PRIVATE_FILE)
        yield cursor


def restore(path: Path, db_engine: str) -> None:
    """Replace the configured database's content with the copy at ``path``."""
    if db_engine == SQLITE:
        connection.close()
        connection.ensure_connection()
        # The backup API in reverse: the copy's pages replace the database in one transaction,
        # so a failure leaves the database as it was.
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as source:
            source.backup(connection.connection)
        connection.close()
        return
    # Tables of a newer schema that the dump does not know would stay and trip the migrations
    # that create them: the database starts empty (the caller checked it may be emptied).
    with transaction.atomic(), connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        if tables:
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(map(connection.ops.quote_name, tables))} CASCADE")
    connection.close()
    _pg_run(
        "pg_restore",
        [
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            str(path),
        ],
    )


def _pg_run(program: str, options: list[str]) -> None:
    executable = shutil.which(program)
    if executable is None:
        raise BackupError(
            gettext("%(program)s is not installed (PostgreSQL's client programs, e.g. apt install postgresql-client)")
            % {"program": program}
        )
    params = connection.settings_dict
    args = [executable, "--no-password"]
    if params.get("USER"):
        args += ["--username", params["USER"]]
    if params.get("HOST"):
        args += ["--host", params["HOST"]]
    if params.get("PORT"):
        args += ["--port", str(params["PORT"])]
    args += options
    args += [f"--dbname={params['NAME']}"]
    # The password, SSL files and service name as libpq's environment variables (Django's own
    # rule for dbshell).
    _, env = DatabaseClient.settings_to_cmd_args_env(params, [])
    result = subprocess.run(args, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(
            gettext("%(program)s failed (exit status %(status)s): %(error)s")
            % {"program": program, "status": result.returncode, "error": result.stderr.strip()[-2000:]}
        )
