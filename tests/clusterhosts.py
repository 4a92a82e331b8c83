"""Several idolsite "hosts" on one machine that share nothing but the services: each process (the
web server, task workers, the scheduler, a one-off command) runs in an empty working folder of
its own with its own IDOLSITE_VAR_DIR, and reaches the others only through PostgreSQL, the Redis
broker and an S3-compatible bucket. Used by tests/ops/test_cluster.py and bench/cluster.py.

Every process starts in a process group of its own; ``kill`` and ``close`` signal the groups of
its descendants too (``qworker`` runs its cluster in another session), so nothing outlives them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "site"
REGION = "us-east-1"
KEY = "cluster-test-" + "p4Wm" * 12  # strong enough for DEBUG off

# The sweeps that find work a killed worker left (stale claims, lost tasks), as the migrations
# name their schedules.
SWEEPS = ("faces: sweep stale detection claims", "classifier: fail stale training runs")


class ServiceMissing(Exception):
    """A service the hosts share cannot be reached or started (the caller skips or fails)."""


def descendants(root: int) -> set[int]:
    """Every process below ``root`` now (gunicorn's workers, a qworker's cluster and its workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # The command may hold spaces and parentheses: the fields after its last ')'.
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _groups(pid: int) -> set[int]:
    groups = set()
    for member in {pid} | descendants(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            groups.add(os.getpgid(member))
    return groups


def _signal_groups(groups: set[int], signum: int) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signum)


def free_port(first: int, last: int) -> int:
    for port in range(first, last + 1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServiceMissing(f"no free port in {first}-{last}")


class Hosts:
    """The shared services (a new PostgreSQL database, a flushed Redis db, a new bucket of an S3
    server) and the processes started on them. Use as a context manager: leaving drops the
    database and stops every process."""

    def __init__(
        self,
        base: Path,
        *,
        postgres_url: str,
        redis_url: str,
        s3_endpoint: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.base = base
        self.redis_url = redis_url
        self.s3_endpoint = s3_endpoint
        self.extra = dict(env or {})
        self.database = f"idolsite_cluster_{uuid.uuid4().hex[:10]}"
        parts = urlsplit(postgres_url)
        self._admin_url = urlunsplit(parts._replace(path="/postgres"))
        self.database_url = urlunsplit(parts._replace(path=f"/{self.database}"))
        self.bucket = f"idolsite-cluster-{uuid.uuid4().hex[:10]}"
        self.processes: dict[str, subprocess.Popen] = {}
        self._created = False

    # -- the services ---------------------------------------------------------------------------

    def __enter__(self) -> Hosts:
        import boto3
        import psycopg2
        import redis

        try:
            connection = psycopg2.connect(self._admin_url, connect_timeout=3)
        except psycopg2.Error as exc:
            raise ServiceMissing(f"PostgreSQL does not answer at {self._admin_url}: {exc}") from exc
        connection.autocommit = True
        with contextlib.closing(connection), connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{self.database}"')
        self._created = True
        try:
            redis.Redis.from_url(self.redis_url, socket_connect_timeout=2).flushdb()
        except redis.RedisError as exc:
            self.__exit__(None, None, None)
            raise ServiceMissing(f"Redis does not answer at {self.redis_url}: {exc}") from exc
        self.s3 = boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name=REGION,
            aws_access_key_id="idolsite-cluster",
            aws_secret_access_key="idolsite-cluster-secret",
        )
        self.s3.create_bucket(Bucket=self.bucket)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
        if self._created:
            import psycopg2

            with contextlib.closing(psycopg2.connect(self._admin_url, connect_timeout=3)) as connection:
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self._created = False

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        """Rows of ``query`` on the hosts' database, read behind their backs (no Django here)."""
        import psycopg2

        with contextlib.closing(psycopg2.connect(self.database_url, connect_timeout=5)) as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(query, params)
                return cursor.fetchall() if cursor.description else []

    def keys(self, under: str) -> set[str]:
        """The bucket's keys under ``PREFIX/under``, without the prefix."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{PREFIX}/{under}")
        start = len(PREFIX) + 1
        return {item["Key"][start:] for page in pages for item in page.get("Contents", [])}

    # -- the hosts ------------------------------------------------------------------------------

    def env(self, name: str, **extra: str) -> dict[str, str]:
        """The environment of host ``name``: the shared services and a var folder of its own."""
        keep = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("IDOLSITE_", "AWS_", "DJANGO_", "Q_CLUSTER", "PROMETHEUS_"))
            and key not in {"DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}
        }
        env = {
            **keep,
            "DEBUG": "0",
            "SECRET_KEY": KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SETTINGS_MODULE": "idolsite.settings",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "DATABASE_URL": self.database_url,
            "IDOLSITE_REDIS_URL": self.redis_url,
            "IDOLSITE_S3_BUCKET": self.bucket,
            "IDOLSITE_S3_ENDPOINT_URL": self.s3_endpoint,
            "IDOLSITE_S3_REGION": REGION,
            "IDOLSITE_S3_PREFIX": PREFIX,
            "AWS_ACCESS_KEY_ID": "idolsite-cluster",
            "AWS_SECRET_ACCESS_KEY": "idolsite-cluster-secret",
            "IDOLSITE_VAR_DIR": str(self.base / name / "var"),
            **self.extra,
            **extra,
        }
        return env

    def _folder(self, name: str) -> Path:
        cwd = self.base / name / "cwd"
        cwd.mkdir(parents=True, exist_ok=True)
        return cwd

    def manage(self, name: str, *args: str, timeout: float = 600, **extra: str) -> str:
        """Run ``manage.py ARGS`` to its end as host ``name``; its output, or AssertionError."""
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=self._folder(name),
            env=self.env(name, **extra),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode:
            raise AssertionError(f"{name}: manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def start(self, name: str, argv: list[str], **extra: str) -> subprocess.Popen:
        """Start host ``name`` (``argv`` after the interpreter) in a process group of its own."""
        logs = self.base / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, *argv],
                cwd=self._folder(name),
                env=self.env(name, **extra),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def start_web(self, name: str, port: int) -> subprocess.Popen:
        process = self.start(
            name,
            [
                *("-m", "gunicorn", "--chdir", str(ROOT), "idolsite.wsgi", "--bind", f"127.0.0.1:{port}"),
                *("--workers", "1", "--worker-class", "gthread", "--threads", "4", "--timeout", "120"),
            ],
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"{name} stopped:\n{self.log(name)[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    return process
            time.sleep(0.5)
        raise AssertionError(f"{name} did not answer /healthz:\n{self.log(name)[-3000:]}")

    def start_worker(self, name: str, cluster: str = "", **extra: str) -> subprocess.Popen:
        argv = [str(ROOT / "manage.py"), "qworker", "--grace", "10"] + (["--cluster", cluster] if cluster else [])
        return self.start(name, argv, IDOLSITE_SCHEDULER="off", **extra)

    def log(self, name: str) -> str:
        path = self.base / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, name: str) -> None:
        """SIGKILL host ``name`` as a machine that dies would: every process of it at once (its
        own group and its cluster's), nothing told to stop."""
        process = self.processes.pop(name)
        groups = _groups(process.pid)
        # Stopped first, so that none reacts to another's death (the cluster to its parent's).
        _signal_groups(groups, signal.SIGSTOP)
        _signal_groups(groups, signal.SIGKILL)
        process.wait(timeout=30)

    def close(self) -> None:
        """Stop every process still running: SIGTERM to their groups, SIGKILL to what is left."""
        running = {name: (process, _groups(process.pid)) for name, process in self.processes.items()}
        for _, groups in running.values():
            _signal_groups(groups, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process, _ in running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process, groups in running.values():
            _signal_groups(groups | {process.pid}, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        self.processes.clear()


# -- the scenario both the test and the benchmark run ----------------------------------------------

SHARED = ROOT.parent / "shared" / "data"


def photo_variants(count: int, folder: Path = SHARED / "photos") -> list[bytes]:
    """``count`` JPEGs from the real group photos, each a different crop, mirror or scale of one, so
    that no two have the same hash or perceptual hash (the crawler would skip them as reposts)."""
    import io

    from PIL import Image, ImageOps

    sources = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not sources:
        raise ServiceMissing(f"no photos under {folder}")
    images = [Image.open(path).convert("RGB") for path in sources]
    variants = []
    for n in range(count):
        image = images[n % len(images)]
        turn = n // len(images)
        if turn % 2:
            image = ImageOps.mirror(image)
        # Each further pass crops the left and top edges by another 4 % (25 crops, then again).
        left, top = (turn // 2) % 5, (turn // 10) % 5
        width, height = image.size
        image = image.crop((width * left // 25, height * top // 25, width, height))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        variants.append(buffer.getvalue())
    return variants


def serve_feed(web: Any, photos: list[bytes], name: str = "feed") -> str:
    """Routes of ``web`` (a tests.webserver.LocalWebServer) for an RSS feed of ``photos``; its address."""
    from tests.webserver import Answer

    items = []
    for i, data in enumerate(photos):
        web.routes[f"/{name}/{i}.jpg"] = Answer(body=data, headers={"Content-Type": "image/jpeg"})
        items.append(
            f"<item><guid>{name}-{i}</guid><link>{web.base}/{name}/post/{i}</link>"
            f"<enclosure url='{web.base}/{name}/{i}.jpg' type='image/jpeg'/></item>"
        )
    web.routes[f"/{name}.xml"] = Answer(
        body=f"<rss version='2.0'><channel><title>{name}</title>{''.join(items)}</channel></rss>".encode(),
        headers={"Content-Type": "application/rss+xml"},
    )
    return f"{web.base}/{name}.xml"


def labeled_faces(folder: Path, *, people: int = 3, per_person: int = 6) -> Path:
    """A folder of a few labeled crops of the shared people, as ``import_faces`` reads it."""
    import shutil

    for person in sorted(p for p in (SHARED / "faces").iterdir() if p.is_dir())[:people]:
        (folder / person.name).mkdir(parents=True)
        for crop in sorted(person.glob("*.jpg"))[:per_person]:
            shutil.copy(crop, folder / person.name / crop.name)
    return folder


def add_source(hosts: Hosts, locator: str, name: str) -> None:
    """A crawled RSS source, from a one-off command on a host of its own: the scheduler queues its
    first crawl at once."""
    code = (
        "from faces.models import Source\n"
        f"Source.objects.create(kind='rss', name={name!r}, locator={locator!r}, poll_interval_minutes=10000)\n"
    )
    hosts.manage(f"admin-{name}", "shell", "-c", code)


def sweep_every_minute(hosts: Hosts) -> None:
    """The sweeps at their shortest interval (a minute; the migrations say five and ten)."""
    hosts.sql("UPDATE django_q_schedule SET minutes = 1, next_run = now() WHERE name = ANY(%s)", (list(SWEEPS),))


def pipeline(hosts: Hosts, since_photo: int = 0) -> dict[str, int]:
    """Where the photos after ``since_photo`` stand: stored, waiting, claimed, detected, failed; faces,
    faces with a vector (or a recorded failure) and faces with a suggestion."""
    (row,) = hosts.sql(
        """SELECT count(*), count(*) FILTER (WHERE status = 'new'),
                  count(*) FILTER (WHERE detection_claim IS NOT NULL),
                  count(*) FILTER (WHERE status = 'detected'), count(*) FILTER (WHERE status = 'failed')
           FROM faces_photo WHERE id > %s""",
        (since_photo,),
    )
    (faces,) = hosts.sql(
        """SELECT count(*),
                  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM faces_faceembedding e WHERE e.face_id = f.id)),
                  count(*) FILTER (WHERE EXISTS (SELECT 1 FROM classifier_suggestion s WHERE s.face_id = f.id))
           FROM faces_face f JOIN faces_photo p ON p.id = f.photo_id WHERE p.id > %s""",
        (since_photo,),
    )
    keys = ("photos", "waiting", "claimed", "detected", "failed")
    return {**dict(zip(keys, row, strict=True)), "faces": faces[0], "embedded": faces[1], "suggested": faces[2]}


def audit(hosts: Hosts) -> dict[str, Any]:
    """What must be nothing once the work is done: duplicate faces (the same box twice on a photo),
    photos still waiting or claimed, objects of the bucket no row names, rows whose object is
    missing."""
    duplicates = hosts.sql(
        """SELECT photo_id, x, y, w, h, count(*) FROM faces_face
           GROUP BY photo_id, x, y, w, h HAVING count(*) > 1"""
    )
    waiting = hosts.sql("SELECT id FROM faces_photo WHERE status = 'new' OR detection_claim IS NOT NULL")
    named = {
        name
        for (name,) in hosts.sql(
            "SELECT image FROM faces_photo UNION ALL SELECT thumbnail FROM faces_photo WHERE thumbnail <> '' "
            "UNION ALL SELECT crop FROM faces_face"
        )
    }
    stored = {key.removeprefix("media/") for key in hosts.keys("media/")}
    directories = {directory for (directory,) in hosts.sql("SELECT directory FROM classifier_modelversion")}
    model_folders = {key.removeprefix("models/").split("/", 1)[0] for key in hosts.keys("models/")}
    return {
        "duplicate_faces": len(duplicates),
        "duplicate_examples": duplicates[:5],
        "waiting_photos": sorted(pk for (pk,) in waiting),
        "orphan_objects": sorted(stored - named),
        "missing_objects": sorted(named - stored),
        "orphan_model_folders": sorted(model_folders - directories),
        "missing_model_folders": sorted(directories - model_folders),
    }
