"""Run a django-q2 task cluster (``manage.py qcluster``) in a process group of its own and pass it
SIGTERM and SIGINT alone. Supervisors that signal a whole process group (honcho; systemd unless
KillMode=mixed) would also hit the cluster's own worker processes, and then the cluster waits for
them forever instead of stopping."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:
    """In the child: SIGTERM when this command dies (a SIGKILL from the supervisor), so that no
    cluster outlives it. Linux only; elsewhere the supervisor's own cleanup must do."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Command(BaseCommand):
    help = "Run the default task cluster, or --cluster training; SIGTERM or Ctrl-C stops it cleanly."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--cluster", default="", help="Another cluster of Q_CLUSTER's ALT_CLUSTERS: training.")
        parser.add_argument(
            "--grace", type=float, default=60.0, help="Seconds the cluster has to stop before it is killed (60)."
        )

    def handle(self, *args: Any, cluster: str, grace: float, **options: Any) -> None:
        alternatives = settings.Q_CLUSTER.get("ALT_CLUSTERS", {})
        if cluster and cluster not in alternatives:
            raise CommandError(f"--cluster {cluster!r}: not one of {', '.join(alternatives) or 'none'}")
        env = {**os.environ, "Q_CLUSTER_NAME": cluster} if cluster else dict(os.environ)
        if not cluster:
            env.pop("Q_CLUSTER_NAME", None)
        child = subprocess.Popen(
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"],
            env=env,
            start_new_session=True,
            preexec_fn=_stop_with_parent,  # before any thread starts in this process
        )
        asked: list[int] = []
        signal.signal(signal.SIGTERM, lambda signum, frame: asked.append(signum))
        signal.signal(signal.SIGINT, lambda signum, frame: asked.append(signum))
        stop_sent = 0.0
        while child.poll() is None:
            if asked and not stop_sent:
                child.send_signal(signal.SIGTERM)
                stop_sent = time.monotonic()
            elif stop_sent and time.monotonic() - stop_sent > grace:
                self.stderr.write(f"the cluster did not stop within {grace:g} s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                break
            time.sleep(0.2)
        if not asked and child.returncode:
            sys.exit(child.returncode)  # stopped on its own: the supervisor restarts it
