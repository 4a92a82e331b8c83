"""/healthz and /readyz: open to probes, each check named with its state, nothing leaked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from django.core.files.storage import default_storage
from django.db import OperationalError, connection

from classifier.models import ModelVersion, Recognizer

SECRET = "db.internal.example:5432/secret-path"


def _ready(client, **extra):
    response = client.get("/readyz", **extra)
    return response, response.json()


def _active_version(**kwargs) -> ModelVersion:
    fields = {
        "directory": "20260101-000000-run1",
        "format_version": 1,
        "kind": Recognizer.NETWORK,
        "class_idol_ids": [1, 2],
        "input_size": 96,
        "fingerprint": "f" * 16,
        "val_top1": 0.9,
        "is_active": True,
    }
    return ModelVersion.objects.create(**{**fields, **kwargs})


def _write_model(path: Path, *, meta: dict | str | None = None, files: dict[str, bytes] | None = None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if meta is not None:
        (path / "model.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    for name, data in (files or {}).items():
        (path / name).write_bytes(data)


def test_healthz_answers_without_database_or_sign_in(client):
    response = client.get("/healthz")  # no database: pytest-django refuses any query here
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_and_readyz_answer_head_and_refuse_post(client, db):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_fresh_install_without_a_model_is_ready(client, settings):
    response, body = _ready(client)
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "storage", "model"}
    assert all(check["state"] == "ok" and check["ms"] >= 0 for check in body["checks"].values())
    assert body["checks"]["model"]["detail"] == "none"
    assert body["checks"]["broker"]["detail"] == ("redis" if settings.IDOLSITE_REDIS_URL else "orm")


@pytest.mark.django_db
def test_storage_probe_goes_through_the_storage_and_leaves_nothing(client, settings, monkeypatch):
    calls = []
    save = default_storage.save

    def spy(name, content, *args, **kwargs):
        calls.append(name)
        return save(name, content, *args, **kwargs)

    monkeypatch.setattr(default_storage, "save", spy)
    response, body = _ready(client)
    assert response.status_code == 200, body
    assert len(calls) == 1 and calls[0].startswith("health/")
    probe_dir = Path(settings.MEDIA_ROOT) / "health"
    assert not probe_dir.exists() or not any(probe_dir.iterdir())


@pytest.mark.django_db
def test_database_down_is_not_ready_and_leaks_nothing(client, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError(f"could not connect to server at {SECRET}")

    monkeypatch.setattr(connection, "cursor", broken)
    response, body = _ready(client)
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {
        "state": "fail",
        "reason": "database_error",
        "error": "OperationalError",
        "ms": body["checks"]["database"]["ms"],
    }
    assert "secret" not in response.content.decode()
    assert client.get("/healthz").status_code == 200  # alive all the same


@pytest.mark.django_db
def test_storage_failing_is_not_ready(client, monkeypatch):
    def broken(name, content, *args, **kwargs):
        raise OSError(f"/srv/{SECRET}: read-only file system")

    monkeypatch.setattr(default_storage, "save", broken)
    response, body = _ready(client)
    assert response.status_code == 503
    assert body["checks"]["storage"]["reason"] == "storage_error"
    assert body["checks"]["database"]["state"] == "ok"
    assert "secret" not in response.content.decode() and "/srv" not in response.content.decode()


@pytest.mark.django_db
def test_storage_answering_other_bytes_is_not_ready(client, monkeypatch):
    from django.core.files.base import ContentFile

    monkeypatch.setattr(default_storage, "open", lambda name, mode="rb": ContentFile(b"something else"))
    response, body = _ready(client)
    assert response.status_code == 503
    assert body["checks"]["storage"]["reason"] == "storage_read_mismatch"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "meta", "files", "reason"),
    [
        ("network", None, {}, "model_meta_unreadable"),
        ("network", "{not json", {"model.keras": b"weights"}, "model_meta_unreadable"),
        ("network", {"format_version": 1, "kind": "network"}, {}, "model_files_missing"),
        ("network", {"format_version": 1, "kind": "network"}, {"model.keras": b""}, "model_files_missing"),
        ("network", {"format_version": 99, "kind": "network"}, {"model.keras": b"w"}, "model_format"),
        ("embedding", {"format_version": 1, "kind": "embedding"}, {"head.keras": b"w"}, "model_files_missing"),
        (
            "embedding",
            {"format_version": 1, "kind": "network"},
            {"head.keras": b"w", "gallery.npz": b"g"},
            "model_format",
        ),
    ],
)
def test_active_model_whose_files_cannot_load_is_not_ready(client, kind, meta, files, reason):
    version = _active_version(kind=kind)
    _write_model(version.path, meta=meta, files=files)
    response, body = _ready(client)
    assert response.status_code == 503, body
    assert body["checks"]["model"]["state"] == "fail"
    assert body["checks"]["model"]["reason"] == reason
    assert str(version.path) not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "files"),
    [("network", {"model.keras": b"weights"}), ("embedding", {"head.keras": b"w", "gallery.npz": b"g"})],
)
def test_active_model_with_its_files_is_ready_without_loading_keras(client, kind, files, monkeypatch):
    import sys

    version = _active_version(kind=kind)
    _write_model(version.path, meta={"format_version": 1, "kind": kind}, files=files)
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    response, body = _ready(client)
    assert response.status_code == 200, body
    assert body["checks"]["model"] == {"state": "ok", "ms": body["checks"]["model"]["ms"]}
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules


@pytest.mark.django_db
def test_redis_broker_that_does_not_answer_is_not_ready(client, settings):
    settings.IDOLSITE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response, body = _ready(client)
    assert response.status_code == 503
    assert body["checks"]["broker"]["reason"] == "broker_error"
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db
def test_redis_broker_that_answers_is_ready(client, settings):
    url = settings.IDOLSITE_REDIS_URL or "redis://127.0.0.1:6379/4"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {url}")
    settings.IDOLSITE_REDIS_URL = url
    response, body = _ready(client)
    assert response.status_code == 200, body
    assert body["checks"]["broker"]["detail"] == "redis"


@pytest.mark.django_db
def test_probes_skip_sign_in_and_work_with_debug_off(client, settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["idols.example", "10.0.0.5"]
    for url in ("/healthz", "/readyz"):
        assert client.get(url, HTTP_HOST="idols.example").status_code == 200
        # A checker that calls the host by its address needs that address in ALLOWED_HOSTS
        # (or sends the site's name as Host).
        assert client.get(url, HTTP_HOST="10.0.0.5").status_code == 200
        assert client.get(url, HTTP_HOST="10.0.0.6").status_code == 400
