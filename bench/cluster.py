"""Cluster benchmark: photos per minute through the whole pipeline with 1 and 2 default workers,
and the time to recover from a worker killed with SIGKILL in the middle of a detection.

The set-up of tests/ops/test_cluster.py (tests/clusterhosts.py): the web server (gunicorn), the
default workers, a training worker and the scheduler as separate processes, each in an empty
working folder with its own var folder, on a new PostgreSQL database, the Redis broker (its db
flushed) and a bucket of moto's S3 server. A few labeled faces are imported and a model trained
first, so that new faces get suggestions. Then three RSS feeds of different photos (the real
group photos of ../shared/data/photos, each cropped or mirrored differently so that none is a
duplicate) are crawled one after the other:

1. N photos with one default worker;
2. N other photos with two;
3. a few more with two, one of which is killed (SIGKILL to all its processes) once both detect:
   recovery is the time from the kill until the photos being detected then are done (the stale
   claim expires, IDOLSITE_DETECT_CLAIM_TIMEOUT, and the sweep, every minute here, queues them
   again), lost photos those never done, duplicate faces the same box stored twice on a photo.

A phase's clock runs from the source's creation until each of its photos is detected and each
face has its vector (crawl, detection, crops, embeddings; suggestions follow, not timed).

    .venv/bin/python bench/cluster.py [--photos 60] [--kill-photos 12] [--detector haar]

Needs PostgreSQL (IDOLSITE_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres)
and Redis (IDOLSITE_TEST_REDIS_URL, default redis://127.0.0.1:6379/8). The last line printed is
{"cluster": {"photos_per_min_1": a, "photos_per_min_2": b, "recovery_s": r, "lost_photos": 0,
"duplicate_faces": 0}}.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.clusterhosts import (  # noqa: E402
    Hosts,
    add_source,
    audit,
    free_port,
    labeled_faces,
    photo_variants,
    pipeline,
    serve_feed,
    sweep_every_minute,
)
from tests.webserver import LocalWebServer  # noqa: E402

CLAIM_TIMEOUT = 25


def last_photo(hosts: Hosts) -> int:
    return hosts.sql("SELECT coalesce(max(id), 0) FROM faces_photo")[0][0]


def finished(hosts: Hosts, since: int, count: int) -> dict | None:
    state = pipeline(hosts, since)
    done = state["photos"] >= count and not state["waiting"] and not state["claimed"]
    return state if done and state["embedded"] >= state["faces"] else None


def run_phase(hosts: Hosts, web: LocalWebServer, name: str, photos: list[bytes], timeout: float) -> float:
    """Crawl ``photos`` and wait until they went through; photos per minute."""
    since = last_photo(hosts)
    started = time.monotonic()
    add_source(hosts, serve_feed(web, photos, name), name)
    while (state := finished(hosts, since, len(photos))) is None:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{name}: not done in {timeout:g} s: {pipeline(hosts, since)}")
        time.sleep(1)
    elapsed = time.monotonic() - started
    rate = len(photos) / (elapsed / 60)
    print(f"{name}: {len(photos)} photos, {state['faces']} faces in {elapsed:.0f} s: {rate:.1f} photos/min", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--kill-photos", type=int, default=12)
    parser.add_argument("--detector", default="haar")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from moto.server import ThreadedMotoServer

    photos = photo_variants(2 * args.photos + args.kill_photos)
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    base = Path(tempfile.mkdtemp(prefix="idolsite-bench-cluster-"))
    env = {
        "IDOLSITE_WORKERS": "1",
        "IDOLSITE_DETECTOR": args.detector,
        "IDOLSITE_TASK_TIMEOUT": "20",
        "IDOLSITE_DETECT_CLAIM_TIMEOUT": str(CLAIM_TIMEOUT),
        "IDOLSITE_FETCH_ALLOWED_HOSTS": "127.0.0.1",
        "IDOLSITE_FETCH_HOST_DELAY": "0",
        "IDOLSITE_PHASH_MAX_DISTANCE": "0",
        "IDOLSITE_TRAINING_SETTLE_SECONDS": "0",
        "IDOLSITE_EMBEDDING_AUTO_RETRAIN": "0",
    }
    try:
        with (
            Hosts(
                base,
                postgres_url=os.environ.get(
                    "IDOLSITE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
                ),
                redis_url=os.environ.get("IDOLSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/8"),
                s3_endpoint=f"http://{host}:{port}",
                env=env,
            ) as hosts,
            LocalWebServer() as web,
        ):
            hosts.manage("migrate", "migrate", "--noinput", "-v0")
            sweep_every_minute(hosts)
            hosts.start_web("web", free_port(18800, 18899))
            hosts.start_worker("training", cluster="training")
            hosts.start("scheduler", [str(ROOT / "manage.py"), "qscheduler", "--interval", "1"])
            hosts.start_worker("worker-1")
            print("importing labeled faces and training a model ...", flush=True)
            hosts.manage("importer", "import_faces", str(labeled_faces(base / "labeled")), "-v0")
            labeled = hosts.sql("SELECT count(*) FROM faces_face")[0][0]
            while hosts.sql("SELECT count(*) FROM faces_faceembedding")[0][0] < labeled:
                time.sleep(1)
            hosts.manage("trainer", "train", "--wait")

            one = run_phase(hosts, web, "one-worker", photos[: args.photos], args.timeout)
            hosts.start_worker("worker-2")
            time.sleep(5)  # its cluster up before the clock starts
            two = run_phase(hosts, web, "two-workers", photos[args.photos : 2 * args.photos], args.timeout)

            since = last_photo(hosts)
            kill_set = photos[2 * args.photos :]
            add_source(hosts, serve_feed(web, kill_set, "kill"), "kill")
            while pipeline(hosts, since)["claimed"] < 2:
                time.sleep(0.05)
            in_flight = [pk for (pk,) in hosts.sql("SELECT id FROM faces_photo WHERE detection_claim IS NOT NULL")]
            hosts.kill("worker-1")
            killed_at = time.monotonic()
            print(f"killed worker-1 while photos {in_flight} were being detected", flush=True)
            recovery = None
            deadline = killed_at + args.timeout
            while time.monotonic() < deadline:
                if recovery is None and not hosts.sql(
                    "SELECT 1 FROM faces_photo WHERE id = ANY(%s) AND (status = 'new' OR detection_claim IS NOT NULL)",
                    (in_flight,),
                ):
                    recovery = time.monotonic() - killed_at
                if recovery is not None and finished(hosts, since, len(kill_set)):
                    break
                time.sleep(0.5)
            state = pipeline(hosts, since)
            print(f"after the kill: {state}; the killed photos done in {recovery} s", flush=True)
            found = audit(hosts)
            lost = len(found["waiting_photos"]) + max(0, len(photos) - last_photo_count(hosts, photos))
            print(
                f"orphan objects: {len(found['orphan_objects'])}, rows without their object: "
                f"{len(found['missing_objects'])}, waiting photos: {found['waiting_photos']}",
                flush=True,
            )
    finally:
        s3.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"ratio 2 workers / 1 worker: {two / one:.2f}")
    result = {
        "photos_per_min_1": round(one, 1),
        "photos_per_min_2": round(two, 1),
        "ratio": round(two / one, 2),
        "recovery_s": round(recovery, 1) if recovery is not None else None,
        "lost_photos": lost,
        "duplicate_faces": found["duplicate_faces"],
        "orphan_objects": len(found["orphan_objects"]),
        "claim_timeout_s": CLAIM_TIMEOUT,
    }
    print(json.dumps({"cluster": result}))


def last_photo_count(hosts: Hosts, photos: list[bytes]) -> int:
    """Photos of the three feeds stored (the labeled faces' photos come first, one face each)."""
    return hosts.sql("SELECT count(*) FROM faces_photo WHERE source_id IS NOT NULL")[0][0]


if __name__ == "__main__":
    main()
