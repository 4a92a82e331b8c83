"""The environment of a separate idolsite process (a worker, a writer, a benchmark) on its own
SQLite file and media folder under ``folder``."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def project_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder}/idolsite.sqlite3",
        "IDOLSITE_MEDIA_ROOT": str(folder / "media"),
        "IDOLSITE_MODEL_DIR": str(folder / "models"),
        "DJANGO_SETTINGS_MODULE": "idolsite.settings",
        "SECRET_KEY": "separate-process",
        "PYTHONPATH": str(ROOT),
        "IDOLSITE_TASKS_SYNC": "0",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    env.pop("IDOLSITE_REDIS_URL", None)
    # The browser tests allow Django's ORM in async code for themselves only; a real process
    # started from the tests must not inherit it (check --deploy refuses it).
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra)
    return env
