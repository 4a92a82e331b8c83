from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.env import env_bool, env_choice, env_int, env_list, env_url, parse_database_url


def test_env_bool(monkeypatch):
    for raw, expected in [("1", True), ("yes", True), ("ON", True), ("0", False), ("off", False), ("", False)]:
        monkeypatch.setenv("X_FLAG", raw)
        assert env_bool("X_FLAG") is expected
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG='maybe' is not a boolean"):
        env_bool("X_FLAG")


def test_env_int_bounds(monkeypatch):
    monkeypatch.setenv("X_INT", "12")
    assert env_int("X_INT", 3, minimum=1) == 12
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("X_INT", 3)
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env_int("X_INT", 3, minimum=1)
    monkeypatch.delenv("X_INT")
    assert env_int("X_INT", 3) == 3


def test_env_choice(monkeypatch):
    monkeypatch.delenv("X_CHOICE", raising=False)
    assert env_choice("X_CHOICE", "auto", ("auto", "float32")) == "auto"
    monkeypatch.setenv("X_CHOICE", "float32")
    assert env_choice("X_CHOICE", "auto", ("auto", "float32")) == "float32"
    monkeypatch.setenv("X_CHOICE", "float8")
    with pytest.raises(ImproperlyConfigured, match="X_CHOICE='float8' is not one of auto, float32"):
        env_choice("X_CHOICE", "auto", ("auto", "float32"))


def test_env_list(monkeypatch):
    monkeypatch.setenv("X_LIST", "a.example, b.example,,")
    assert env_list("X_LIST", []) == ["a.example", "b.example"]


def test_env_url(monkeypatch):
    monkeypatch.delenv("X_URL", raising=False)
    assert env_url("X_URL") == ""
    assert env_url("X_URL", "https://api.line.me") == "https://api.line.me"
    monkeypatch.setenv("X_URL", " https://idols.example/site/ ")
    assert env_url("X_URL") == "https://idols.example/site"
    for bad in ("idols.example", "ftp://idols.example", "https://", "https://idols.example/?a=1", "http://h:99999"):
        monkeypatch.setenv("X_URL", bad)
        with pytest.raises(ImproperlyConfigured, match="X_URL="):
            env_url("X_URL")


def test_database_urls():
    base = Path("/srv/app")
    pg = parse_database_url("postgres://u:p%40ss@db.example:6543/idols?sslmode=require", base_dir=base)
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "idols",
        "u",
        "p@ss",
        "db.example",
        "6543",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    rel = parse_database_url("sqlite:///var/x.sqlite3", base_dir=base)
    assert rel["NAME"] == "/srv/app/var/x.sqlite3"
    assert rel["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in rel["OPTIONS"]["init_command"]
    assert parse_database_url("sqlite:////tmp/abs.db", base_dir=base)["NAME"] == "/tmp/abs.db"
    for bad in ["mysql://x/y", "postgres://host:99999999/db", "postgres://host/", "sqlite://"]:
        with pytest.raises(ImproperlyConfigured):
            parse_database_url(bad, base_dir=base)
