"""The task queue for real: django-q2 clusters on the ORM broker (embedded) and on Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.projectenv import ROOT, project_env


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return project_env(tmp_path, **extra)


def _python(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_training_cluster_is_separate_and_runs_one_task_at_a_time(tmp_path):
    code = "from django_q.conf import Conf; print(Conf.CLUSTER_NAME, Conf.WORKERS, Conf.MAX_ATTEMPTS)"
    assert _python(code, _env(tmp_path)) == "idolsite 2 3"
    assert _python(code, _env(tmp_path, Q_CLUSTER_NAME="training")) == "training 1 1"


@pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="about the embedded default")
def test_worker_on_the_orm_broker_runs_a_queued_task(tmp_path):
    env = _env(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    task_id = _python("from django_q.tasks import async_task; print(async_task('math.hypot', 3, 4))", env)
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        result = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            result = _python(f"from django_q.tasks import result; print(result({task_id!r}))", env)
            if result != "None":
                break
            time.sleep(1)
        assert result == "5.0"
    finally:
        cluster.send_signal(signal.SIGTERM)  # the parent stops its workers gracefully
        try:
            cluster.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(cluster.pid, signal.SIGKILL)


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379 (.ci/run starts it)")
def test_redis_broker_is_used_when_configured(tmp_path):
    env = _env(tmp_path, IDOLSITE_REDIS_URL="redis://127.0.0.1:6379/15")
    code = """
from django.conf import settings
from django_q.brokers import get_broker
from django_q.tasks import async_task
default, training = get_broker(), get_broker(settings.TRAINING_CLUSTER)
default.purge_queue(); training.purge_queue()
async_task('math.floor', 1.5)
async_task('math.floor', 2.5, cluster=settings.TRAINING_CLUSTER)
async_task('math.floor', 3.5, cluster=settings.TRAINING_CLUSTER)
print(type(default).__name__, default.queue_size(), training.queue_size())
default.purge_queue(); training.purge_queue()
"""
    assert _python(code, env) == "Redis 1 2"
