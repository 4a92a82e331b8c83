"""The embedded default must hold up with the web server and workers writing at once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.projectenv import ROOT, project_env

WRITER = """
import os, sys, uuid
import django
django.setup()
from django.db import transaction
from faces.models import Source
from labeling.services import idol_create
from labeling.models import Idol
name = sys.argv[1]
for i in range(60):
    # Read, then write in one transaction: the pattern that fails with 'database is locked'
    # when a deferred transaction cannot upgrade its read lock.
    with transaction.atomic():
        n = Idol.all_objects.count()
        idol_create(name=f"{name}-{i}-{n}")
        Source.objects.create(kind="folder", name=name, locator=f"/tmp/{name}/{i}/{uuid.uuid4()}")
print("ok")
"""


@pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="about the SQLite default")
def test_parallel_writers_never_see_database_is_locked(tmp_path):
    env = project_env(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"w{i}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    results = [w.communicate(timeout=180) for w in writers]
    for writer, (out, err) in zip(writers, results, strict=True):
        assert writer.returncode == 0, err[-2000:]
        assert out.strip() == "ok"
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from labeling.models import Idol; print(Idol.all_objects.count())",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert check.stdout.strip() == "240"
