"""Typed helpers that read settings from environment variables.

Each helper raises ``ImproperlyConfigured`` with the variable's name and the bad value, so a
typo in a deployment fails at start-up with a clear message instead of somewhere later.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is above the maximum {maximum}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is above the maximum {maximum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(name: str) -> list[str]:
    """Comma-separated IP addresses and networks (``10.0.0.5``, ``10.0.0.0/8``, ``::1``), each
    checked: a bad one stops start-up."""
    entries = env_list(name, [])
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {entry!r} is not an IP address or network") from None
    return entries


def env_float_list(
    name: str, default: list[float], *, minimum: float | None = None, maximum: float | None = None
) -> list[float]:
    """Comma-separated numbers, e.g. ``IDOLSITE_DETECT_ANGLES=-30,0,30``; empty means the default."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    values = []
    for item in raw.split(","):
        if not item.strip():
            continue
        try:
            value = float(item.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r}: {item.strip()!r} is not a number") from None
        if minimum is not None and value < minimum:
            raise ImproperlyConfigured(f"{name}={raw!r}: {value} is below the minimum {minimum}")
        if maximum is not None and value > maximum:
            raise ImproperlyConfigured(f"{name}={raw!r}: {value} is above the maximum {maximum}")
        values.append(value)
    return values


def env_url(name: str, default: str = "") -> str:
    """An absolute http(s) address without its trailing slash, e.g. ``https://idols.example``;
    empty when unset and the default is empty."""
    raw = os.environ.get(name)
    value = (default if raw is None or raw.strip() == "" else raw.strip()).rstrip("/")
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not an http(s) address (like https://host or https://host/path)"
        )
    return value


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return Path(raw.strip()).expanduser().resolve()


_PG_SCHEMES = {"postgres", "postgresql", "pgsql"}


def parse_database_url(url: str, *, base_dir: Path) -> dict[str, Any]:
    """Turn ``DATABASE_URL`` into a Django ``DATABASES`` entry.

    Supported: ``sqlite:///relative/or/absolute.db`` (``sqlite:////abs/path.db`` for an absolute
    path) and ``postgres://user:password@host:port/name?option=value``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        raw_path = unquote(parts.path)
        if raw_path in ("", "/"):
            raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no SQLite file")
        # sqlite:///var/db.sqlite3 is relative to the project; sqlite:////abs.db is absolute.
        path = Path(raw_path[1:]) if raw_path.startswith("/") else Path(raw_path)
        if not path.is_absolute():
            path = base_dir / path
        return sqlite_database(path)
    if scheme in _PG_SCHEMES:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no database")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"DATABASE_URL={url!r} has a bad port") from None
        options = dict(parse_qsl(parts.query))
        conn_max_age = int(options.pop("conn_max_age", "60"))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "CONN_MAX_AGE": conn_max_age,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL={url!r}: unsupported scheme {parts.scheme!r} (use sqlite:/// or postgres://)"
    )


def sqlite_database(path: Path) -> dict[str, Any]:
    """SQLite tuned for a web server and task workers writing at the same time.

    WAL lets readers go on while one writer writes; ``IMMEDIATE`` transactions take the write
    lock at BEGIN, so two writers queue on the busy timeout instead of failing with
    'database is locked' when a read lock cannot be upgraded.
    """
    return {
        "ENGINE": "core.sqlite",  # Django's, creating the file owner-only (core/sqlite)
        "NAME": str(path),
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;PRAGMA busy_timeout=30000;"
            ),
        },
    }


def require_web_settings(settings: Any) -> None:
    """The web server (wsgi, asgi) with DEBUG off needs ALLOWED_HOSTS: without it Django would
    start and answer every request 400. Management commands (migrate) do not need it."""
    if not settings.DEBUG and not settings.ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS must be set when DEBUG is off: the comma-separated host names the site "
            "answers to, e.g. ALLOWED_HOSTS=photos.example.org"
        )
