"""IDOLSITE_LOG_JSON: one JSON object a line with time, level, logger, message and the request
id; the default stays plain text."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from idolsite.logs import JsonFormatter, RequestIdFilter

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = (
    "import django, logging; django.setup(); logging.getLogger('idolsite.test').warning('crawl of %s failed', 'Blog')"
)


def _run(**env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("IDOLSITE_LOG_JSON",)}
    environ.update({"DJANGO_SETTINGS_MODULE": "idolsite.settings", "SECRET_KEY": "x" * 50, **env})
    done = subprocess.run(
        [sys.executable, "-c", SNIPPET], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stderr.strip().splitlines()[-1]


def test_json_logs_switched_on_by_the_setting():
    line = json.loads(_run(IDOLSITE_LOG_JSON="1"))
    assert line["level"] == "WARNING"
    assert line["logger"] == "idolsite.test"
    assert line["message"] == "crawl of Blog failed"
    assert line["time"][:2] == "20"
    assert "request_id" not in line  # no request: no id


def test_plain_text_logs_by_default():
    line = _run()
    assert line.endswith("WARNING idolsite.test: crawl of Blog failed")
    with pytest.raises(ValueError):
        json.loads(line)


@pytest.fixture
def json_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("idolsite.health")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


@pytest.mark.django_db
def test_a_request_lines_carry_its_id(client, monkeypatch, json_lines):
    from django.core.files.storage import default_storage

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(default_storage, "save", broken)  # the readiness check logs why it failed
    response = client.get("/readyz")
    assert response.status_code == 503
    lines = json_lines()
    assert lines and lines[0]["request_id"] == response["X-Request-ID"]
    assert lines[0]["logger"] == "idolsite.health" and lines[0]["level"] == "WARNING"
    # A sane id from the proxy is kept; anything else is replaced.
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id\n")["X-Request-ID"] != "bad id\n"
