"""Hosts that share nothing but the services: the web server, two default workers, a training
worker and the scheduler run as separate processes, each in an empty working folder with its own
var folder, on one PostgreSQL database, the Redis broker and an S3 bucket (moto's server). Photos
crawled from a local feed go through detection, embeddings and suggestions while one default
worker is killed with SIGKILL in the middle of a detection; the work still ends done, once, with
no orphan object or row.

Needs PostgreSQL and Redis (IDOLSITE_TEST_POSTGRES_URL, IDOLSITE_TEST_REDIS_URL, or the defaults
below): skipped where they do not answer, failed instead in CI (CI=true)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.clusterhosts import (
    ROOT,
    Hosts,
    ServiceMissing,
    add_source,
    audit,
    free_port,
    labeled_faces,
    photo_variants,
    pipeline,
    serve_feed,
    sweep_every_minute,
)
from tests.webserver import LocalWebServer

PHOTOS = 24
CLAIM_TIMEOUT = 25  # seconds: a killed worker's photo is queued again by the next sweep after this
ENV = {
    "IDOLSITE_WORKERS": "1",
    "IDOLSITE_DETECTOR": "haar",
    "IDOLSITE_TASK_TIMEOUT": "20",
    "IDOLSITE_DETECT_CLAIM_TIMEOUT": str(CLAIM_TIMEOUT),
    "IDOLSITE_FETCH_ALLOWED_HOSTS": "127.0.0.1",
    "IDOLSITE_FETCH_HOST_DELAY": "0",
    "IDOLSITE_PHASH_MAX_DISTANCE": "0",
    "IDOLSITE_TRAINING_SETTLE_SECONDS": "0",
    "IDOLSITE_EMBEDDING_AUTO_RETRAIN": "0",
    "LOG_LEVEL": "INFO",
}


def _postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    return os.environ.get("IDOLSITE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def _redis_url() -> str:
    return os.environ.get("IDOLSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/8")


@contextlib.contextmanager
def _one_at_a_time():
    """`make test` runs its SQLite and PostgreSQL runs at once; both would flush and read the same
    Redis db."""
    path = Path(tempfile.gettempdir()) / f"idolsite-cluster-{abs(hash(_redis_url()))}.lock"
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _wait(predicate, timeout: float, what: str, hosts: Hosts, step: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    logs = f"{pipeline(hosts)}\n" + "\n".join(
        f"--- {name}\n{hosts.log(name)[-2000:]}" for name in sorted(hosts.processes)
    )
    raise AssertionError(f"{what}: not within {timeout:g} s\n{logs}")


@pytest.mark.slow
@pytest.mark.postgresql_run
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="walks /proc for the processes it started")
def test_hosts_sharing_only_the_services_survive_a_killed_worker(tmp_path, s3_server):
    with _one_at_a_time():
        try:
            hosts = Hosts(
                tmp_path, postgres_url=_postgres_url(), redis_url=_redis_url(), s3_endpoint=s3_server, env=ENV
            ).__enter__()
        except ServiceMissing as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI: {exc}")
            pytest.skip(str(exc))
        try:
            _run(hosts, tmp_path)
        finally:
            hosts.__exit__(None, None, None)


def _run(hosts: Hosts, tmp_path: Path) -> None:
    hosts.manage("migrate", "migrate", "--noinput", "-v0")
    sweep_every_minute(hosts)
    port = free_port(18800, 18899)
    hosts.start_web("web", port)
    hosts.start_worker("worker-1")
    hosts.start_worker("worker-2")
    hosts.start_worker("training", cluster="training")
    hosts.start("scheduler", [str(ROOT / "manage.py"), "qscheduler", "--interval", "1"])

    # Labeled faces first (embedded by the workers), then a model trained on the training host.
    hosts.manage("importer", "import_faces", str(labeled_faces(tmp_path / "labeled")), "-v0")
    labeled = hosts.sql("SELECT count(*) FROM faces_face")[0][0]
    _wait(
        lambda: hosts.sql("SELECT count(*) FROM faces_faceembedding")[0][0] >= labeled,
        180,
        "the labeled faces embedded",
        hosts,
    )
    hosts.manage("trainer", "train", "--wait", timeout=600)
    (active,) = hosts.sql("SELECT id, directory FROM classifier_modelversion WHERE is_active")
    assert any(key.startswith(f"models/{active[1]}/") for key in hosts.keys("models/")), "model not in the bucket"
    last_photo = hosts.sql("SELECT coalesce(max(id), 0) FROM faces_photo")[0][0]

    with LocalWebServer() as web:
        add_source(hosts, serve_feed(web, photo_variants(PHOTOS)), "feed")
        # Both default workers detecting: the one killed surely holds a claim.
        claimed = _wait(
            lambda: (
                hosts.sql("SELECT id FROM faces_photo WHERE detection_claim IS NOT NULL AND id > %s", (last_photo,))
                if pipeline(hosts, last_photo)["claimed"] >= 2
                else None
            ),
            300,
            "two photos in detection at once",
            hosts,
            step=0.05,
        )
        hosts.kill("worker-1")
        killed_at = time.monotonic()
        in_flight = {pk for (pk,) in claimed}

        def done() -> dict | None:
            state = pipeline(hosts, last_photo)
            finished = state["photos"] >= PHOTOS and not state["waiting"] and not state["claimed"]
            return state if finished and state["embedded"] == state["faces"] else None

        state = _wait(done, 300, "every photo detected and embedded", hosts)
    recovered = time.monotonic() - killed_at
    # The killed photo can only have been finished by the sweep, once its claim went stale.
    assert recovered >= CLAIM_TIMEOUT - 2, (recovered, in_flight)
    assert "stale detection claims" in hosts.log("worker-2"), "no sweep queued the killed photo again"

    assert state["photos"] == PHOTOS, state
    assert state["detected"] == PHOTOS and state["failed"] == 0, state
    assert state["faces"] > 0, state
    # Suggestions from the active model for every face that has a vector.
    with_vector = hosts.sql(
        "SELECT count(DISTINCT f.id) FROM faces_face f JOIN faces_faceembedding e ON e.face_id = f.id "
        "WHERE f.photo_id > %s AND e.error = ''",
        (last_photo,),
    )[0][0]
    _wait(lambda: pipeline(hosts, last_photo)["suggested"] >= with_vector, 120, "suggestions for new faces", hosts)

    found = audit(hosts)
    assert found["duplicate_faces"] == 0, found["duplicate_examples"]
    assert found["waiting_photos"] == []
    assert found["orphan_objects"] == [], found["orphan_objects"][:10]
    assert found["missing_objects"] == [], found["missing_objects"][:10]
    assert found["orphan_model_folders"] == [] and found["missing_model_folders"] == [], found
    # Nothing was written to a host's own folder but its var folder: the shared state is elsewhere.
    for host in ("worker-2", "training", "web"):
        assert not list((tmp_path / host / "var").glob("media/**/*.jpg")), host
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
