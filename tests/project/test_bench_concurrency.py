"""bench/concurrency.py, briefly: gunicorn on SQLite, a few labelers for a few seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.projectenv import ROOT


@pytest.mark.slow
def test_concurrency_bench_runs_and_finds_nothing_wrong():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [
            sys.executable,
            "bench/concurrency.py",
            "--seconds",
            "3",
            "--labelers",
            "4",
            "--db",
            "sqlite",
            "--workers",
            "2",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])["concurrency"]["sqlite"]
    assert result["requests"] > 20, done.stdout
    assert (result["server_errors"], result["lost"], result["double_events"]) == (0, 0, 0), done.stdout
    assert result["p95_ms"] > 0
