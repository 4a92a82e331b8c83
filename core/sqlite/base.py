"""Django's SQLite backend, creating the database owner-only: the folder (a fresh clone has
no ``var/``) with mode 0700 and the file with 0600 before SQLite opens it, since SQLite would
create it readable by everyone and gives its -wal and -shm files the database file's mode."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteDatabaseWrapper

from core.files import PRIVATE_FILE, make_private_dirs


def prepare_database_file(name: str) -> None:
    if name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    if path.exists():
        # A database made before files were owner-only (or copied in) is closed to others too.
        for existing in (path, Path(f"{name}-wal"), Path(f"{name}-shm")):
            with contextlib.suppress(OSError):
                if existing.stat().st_mode & 0o077:
                    existing.chmod(PRIVATE_FILE)
        return
    make_private_dirs(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE))  # an empty file is an empty database


class DatabaseWrapper(SQLiteDatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        prepare_database_file(str(conn_params["database"]))
        return super().get_new_connection(conn_params)
