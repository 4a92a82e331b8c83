"""Run the web server and both task clusters together; Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the web server, the default task cluster and the training cluster; Ctrl-C stops all."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-training", action="store_true", help="Do not start the training cluster.")

    def handle(self, *args: Any, addrport: str, no_training: bool, **options: Any) -> None:
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        commands = [
            ("web", [*manage, "runserver", addrport, "--noreload"], {}),
            ("tasks", [*manage, "qcluster"], {}),
        ]
        if not no_training:
            commands.append(("training", [*manage, "qcluster"], {"Q_CLUSTER_NAME": settings.TRAINING_CLUSTER}))
        children: list[tuple[str, subprocess.Popen]] = []
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, command, extra_env in commands:
            env = {**os.environ, **extra_env}
            children.append((name, subprocess.Popen(command, env=env)))
            self.stdout.write(f"started {name} (pid {children[-1][1].pid})")
        self.stdout.write(self.style.SUCCESS(f"idolsite is running at http://{addrport}/ — Ctrl-C stops it."))
        exit_code = 0
        try:
            while not stopping:
                for name, child in children:
                    if child.poll() is not None:
                        self.stderr.write(f"{name} stopped (exit code {child.returncode}); stopping the rest")
                        exit_code = child.returncode or 1
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            for _, child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 15
            for _, child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
            self.stdout.write("stopped.")
        if exit_code:
            sys.exit(exit_code)
