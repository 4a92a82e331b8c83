"""deploy/ for real: honcho starts deploy/Procfile in an empty working folder (settings from an
env file, as in production); the web server answers, both task clusters run a task each, the
scheduler (and only it) turns a due schedule into a task; SIGTERM to honcho leaves no process of
any of them behind. deploy/.env.example passes ``check --deploy``."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from honcho.environ import parse as parse_env_file

from tests.clusterhosts import descendants
from tests.projectenv import ROOT, project_env

PROCFILE = ROOT / "deploy" / "Procfile"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
HONCHO = Path(sys.executable).with_name("honcho")
STRONG_KEY = "procfile-test-" + "k7Qz" * 12


def _free_port() -> int:
    for port in range(18700, 18800):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is left


def _source(line: str) -> str:
    """The process that wrote a line of honcho's output: ``HH:MM:SS name.N | text``."""
    return line.split("|", 1)[0].split()[-1]


def _django(code: str, env: dict[str, str]) -> str:
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


QUEUE = """
from datetime import timedelta
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task
async_task("math.hypot", 3, 4, task_name="on-default")
async_task("math.hypot", 6, 8, task_name="on-training", cluster="training")
Schedule.objects.create(
    name="procfile-schedule", func="math.hypot", args="5, 12", schedule_type=Schedule.ONCE,
    repeats=1, next_run=timezone.now() - timedelta(seconds=1),
)
"""

RESULTS = """
from django.db.models import Q
from django_q.models import Success
done = Success.objects.filter(Q(name__in=["on-default", "on-training"]) | Q(group="procfile-schedule"))
print(sorted((t.group if t.group == "procfile-schedule" else t.name, t.result) for t in done))
"""


def _done(database: Path) -> int:
    """Tasks of this test done so far, read straight from the file (no Django start per look)."""
    with contextlib.closing(sqlite3.connect(database, timeout=5)) as connection:
        return connection.execute(
            "SELECT count(*) FROM django_q_task WHERE success AND "
            "(name IN ('on-default', 'on-training') OR \"group\" = 'procfile-schedule')"
        ).fetchone()[0]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="walks /proc for the processes left behind")
def test_procfile_starts_every_process_and_sigterm_stops_them_all(tmp_path):
    workdir = tmp_path / "run"  # honcho's working folder: nothing of the project in it
    workdir.mkdir()
    port = _free_port()
    settings_env = {
        "DEBUG": "0",
        "SECRET_KEY": STRONG_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp_path}/idolsite.sqlite3",
        "IDOLSITE_VAR_DIR": str(tmp_path / "var"),
        "IDOLSITE_MEDIA_ROOT": str(tmp_path / "media"),
        "IDOLSITE_MODEL_DIR": str(tmp_path / "models"),
        "IDOLSITE_HOME": str(ROOT),
        "IDOLSITE_WORKERS": "1",
        "IDOLSITE_WEB_WORKERS": "1",
        "IDOLSITE_WEB_THREADS": "2",
        "PYTHONUNBUFFERED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    (workdir / ".env").write_text("".join(f"{key}={value}\n" for key, value in settings_env.items()))
    env = project_env(tmp_path, **settings_env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    _django(QUEUE, env)

    # Only what a deployment has: the env file, the virtualenv first on PATH, nothing importable.
    honcho_env = {
        key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "DJANGO_SETTINGS_MODULE"}
    }
    for key in ("DATABASE_URL", "IDOLSITE_REDIS_URL", "IDOLSITE_TASKS_SYNC", "SECRET_KEY", "DEBUG"):
        honcho_env.pop(key, None)
    honcho_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    honcho = subprocess.Popen(
        [str(HONCHO), "-f", str(PROCFILE), "start", "--no-colour", "-p", str(port)],
        cwd=workdir,
        env=honcho_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(honcho.stdout), daemon=True)
    reader.start()
    started: set[int] = set()
    try:
        expected = [("on-default", 5.0), ("on-training", 10.0), ("procfile-schedule", 13.0)]
        page = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert honcho.poll() is None, "honcho stopped:\n" + "".join(lines)[-4000:]
            started |= descendants(honcho.pid)
            if page != 200:
                with contextlib.suppress(requests.RequestException):
                    page = requests.get(f"http://127.0.0.1:{port}/label/login/", timeout=5).status_code
            if page == 200 and _done(tmp_path / "idolsite.sqlite3") == len(expected):
                break
            time.sleep(0.5)
        log = "".join(lines)
        assert page == 200, log[-4000:]
        assert _django(RESULTS, env) == repr(expected), log[-4000:]
        running = [line for line in lines if "Q Cluster" in line and "running" in line]
        assert any(_source(line) == "worker.1" and "[idolsite]" in line for line in running), running
        assert any(_source(line) == "training.1" and "[training]" in line for line in running), running
        scheduled = [line for line in lines if "from schedule [procfile-schedule]" in line]
        assert scheduled and all(_source(line) == "scheduler.1" for line in scheduled), scheduled
        started |= descendants(honcho.pid)
        # honcho, gunicorn's master and a worker, two clusters (each a sentinel, a monitor, a
        # pusher, a worker and more), the scheduler: many more than the four Procfile lines.
        assert len(started) > 8, started
    finally:
        honcho.send_signal(signal.SIGTERM)
        try:
            honcho.wait(timeout=30)
        finally:
            for pid in started | {honcho.pid}:
                if _alive(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
    reader.join(timeout=5)
    log = "".join(lines)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in started):
        time.sleep(0.2)
    assert not [pid for pid in started if _alive(pid)], log[-4000:]
    # Every process stopped on SIGTERM, within honcho's grace: none needed a SIGKILL.
    assert "SIGKILL" not in log, log[-4000:]
    assert "scheduler stopped" in log, log[-4000:]


def test_env_example_passes_check_deploy(tmp_path):
    env = parse_env_file(ENV_EXAMPLE.read_text())
    assert env["SECRET_KEY"] == "CHANGE-ME"  # no real secret in the repository
    env.update(
        SECRET_KEY=STRONG_KEY,
        IDOLSITE_VAR_DIR=str(tmp_path / "var"),
        IDOLSITE_MEDIA_ROOT=str(tmp_path / "media"),
        IDOLSITE_MODEL_DIR=str(tmp_path / "models"),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**project_env(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_still_warns_without_https_settings(tmp_path):
    """The check above passes because of the example's settings, not because checks are off."""
    env = project_env(tmp_path, SECRET_KEY=STRONG_KEY, DEBUG="0", ALLOWED_HOSTS="idols.example.org")
    for key in ("SECURE_HSTS_SECONDS", "IDOLSITE_TRUSTED_PROXIES", "SECURE_SSL_REDIRECT"):
        env.pop(key, None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr
