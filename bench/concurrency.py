"""Many labelers at once over HTTP, on SQLite and PostgreSQL: no server errors, nothing lost,
nothing recorded twice.

    .venv/bin/python bench/concurrency.py                          # 20 labelers, 60 s, both databases
    .venv/bin/python bench/concurrency.py --seconds 10 --db sqlite # a quick run

Each database is fresh (SQLite: a file in a temporary IDOLSITE_VAR_DIR; PostgreSQL:
``idolsite_bench_concurrency``, created and dropped by the benchmark), migrated and seeded with
``manage.py seed_demo_data`` (small) plus one user with the labeler role per labeler. gunicorn
serves it (``idolsite.wsgi``, DEBUG off, gthread workers) on a free port in 18500-18599, with
the API throttles raised far above what 20 busy people send (``IDOLSITE_THROTTLE_USER`` and
``_ANON`` = 1000000/minute), since the benchmark measures the database, not the throttle.

Every labeler gets a token through ``POST /api/auth/token/``, then loops over random actions
on one small set of faces shared by all (so they collide): label one face, label several,
remove a label it saw, remove it from several, undo one of its own actions, exclude, include.
Afterwards the history is checked against the database:

- ``lost``: acknowledged actions (2xx with a batch) without their events (or with events that
  do not say what was asked), plus final labels or exclusions the history does not explain;
- ``double_events``: a change of state recorded twice (a label added while the face had it,
  removed while it did not; an exclusion of an excluded face, an inclusion of an included one),
  replaying each face's events in order.

Prints a summary per database, then one JSON line last:
{"concurrency": {"<db>": {"requests": n, "server_errors": 0, "lost": 0, "double_events": 0, "per_s": r, "p50_ms": t,
"p95_ms": t}}}
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_DB = "idolsite_bench_concurrency"
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
PORTS = range(18500, 18600)
PASSWORD = "bench-concurrency-pw-1"


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --- children: seeding and checking, inside Django ---------------------------------------------


def child_seed(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from faces.models import Face
    from labeling.models import Idol
    from labeling.roles import assign_role

    call_command("migrate", verbosity=0)
    call_command("seed_demo_data", faces=args.faces * 2, idols=args.idols, labels=args.faces // 2, stdout=io.StringIO())
    User = get_user_model()
    users = []
    for i in range(args.labelers):
        user = User.objects.create_user(f"bench-labeler-{i}", password=PASSWORD)
        assign_role(user, "labeler")
        users.append(user.username)
    faces = list(Face.objects.filter(excluded=False).order_by("id").values_list("pk", flat=True)[: args.faces])
    idols = list(Idol.objects.order_by("id").values_list("pk", flat=True)[: args.idols])
    print(json.dumps({"users": users, "faces": faces, "idols": idols}))


def child_check(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from faces.models import Face
    from labeling.models import FaceLabel, How, LabelEvent

    seed = json.loads(Path(args.check).with_name("seed.json").read_text())
    acks = json.loads(Path(args.check).read_text())
    pool = set(seed["faces"])
    wanted = {
        "label": {LabelEvent.Action.LABEL_ADDED},
        "bulk_label": {LabelEvent.Action.LABEL_ADDED},
        "unlabel": {LabelEvent.Action.LABEL_REMOVED},
        "bulk_unlabel": {LabelEvent.Action.LABEL_REMOVED},
        "exclude": {LabelEvent.Action.EXCLUDED, LabelEvent.Action.LABEL_REMOVED},
        "include": {LabelEvent.Action.INCLUDED},
    }
    missing = Counter()
    for ack in acks:
        events = list(LabelEvent.objects.filter(batch=ack["batch"]))
        if ack["kind"] == "undo":
            undone = set(LabelEvent.objects.filter(batch=ack["undoes"]).values_list("pk", flat=True))
            ok = (
                bool(events)
                and all(e.how == How.UNDO for e in events)
                and {e.undoes_id for e in events} == undone
                and len(events) == len(undone)
            )
        else:
            ok = (
                bool(events)
                and {e.action for e in events} <= wanted[ack["kind"]]
                and all(e.face_id in ack["faces"] for e in events)
                and (ack["kind"] in ("exclude", "include") or all(e.idol_id == ack["idol"] for e in events))
                and (ack["kind"] != "exclude" or any(e.action == LabelEvent.Action.EXCLUDED for e in events))
            )
        if not ok:
            missing[ack["kind"]] += 1

    # Replay each face's history (the faces were included at the start; their labels all have
    # events): every event must change the state, and the end state must be the database's.
    labeled: set[tuple[int, int]] = set()
    excluded: set[int] = set()
    doubles = Counter()
    history = LabelEvent.objects.filter(face_id__in=pool).order_by("id").values_list("face_id", "idol_id", "action")
    for face_id, idol_id, action in history.iterator():
        key = (face_id, idol_id)
        if action == LabelEvent.Action.LABEL_ADDED:
            doubles["label_added"] += key in labeled
            labeled.add(key)
        elif action == LabelEvent.Action.LABEL_REMOVED:
            doubles["label_removed"] += key not in labeled
            labeled.discard(key)
        elif action == LabelEvent.Action.EXCLUDED:
            doubles["excluded"] += face_id in excluded
            excluded.add(face_id)
        else:
            doubles["included"] += face_id not in excluded
            excluded.discard(face_id)
    actual_labels = set(FaceLabel.objects.filter(face_id__in=pool).values_list("face_id", "idol_id"))
    actual_excluded = set(Face.objects.filter(pk__in=pool, excluded=True).values_list("pk", flat=True))
    unexplained = len(labeled ^ actual_labels) + len(excluded ^ actual_excluded)
    print(
        json.dumps(
            {
                "lost": sum(missing.values()) + unexplained,
                "missing_by_kind": dict(missing),
                "unexplained_state": unexplained,
                "double_events": sum(doubles.values()),
                "doubles_by_action": {k: v for k, v in doubles.items() if v},
                "events": LabelEvent.objects.filter(face_id__in=pool).count(),
            }
        )
    )


# --- the labelers ----------------------------------------------------------------------------


class Labeler(threading.Thread):
    def __init__(self, base: str, token: str, seed: dict, deadline: float, index: int) -> None:
        super().__init__(daemon=True)
        self.base, self.token, self.seed, self.deadline = base, token, seed, deadline
        self.rng = random.Random(index)
        self.latencies: list[float] = []
        self.statuses: Counter = Counter()
        self.acks: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.mine: list[str] = []  # own batches not undone yet
        self.seen: set[tuple[int, int]] = set()  # (face, idol) labels seen in answers

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        started = time.perf_counter()
        try:
            response = self.session.request(method, self.base + path, json=body, timeout=60)
        except Exception as exc:
            self.latencies.append((time.perf_counter() - started) * 1000)
            self.statuses["connection_error"] += 1
            self.errors.append(f"{method} {path}: {exc}")
            return 0, {}
        self.latencies.append((time.perf_counter() - started) * 1000)
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
        try:
            data = response.json()
        except ValueError:
            data = {}
        for face in data.get("faces", []) if isinstance(data, dict) else []:
            self.seen -= {key for key in self.seen if key[0] == face["id"]}
            self.seen |= {(face["id"], label["idol"]) for label in face.get("labels", [])}
        return response.status_code, data

    def acknowledge(self, kind: str, status: int, data: dict, **details: Any) -> None:
        if 200 <= status < 300 and data.get("batch"):
            self.acks.append({"kind": kind, "batch": data["batch"], **details})
            if kind != "undo":
                self.mine.append(data["batch"])

    def run(self) -> None:
        import requests

        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {self.token}"
        faces, idols, rng = self.seed["faces"], self.seed["idols"], self.rng
        while time.monotonic() < self.deadline:
            some = rng.sample(faces, rng.randint(2, 6))
            face, idol = some[0], rng.choice(idols)
            kind = rng.choices(
                ["label", "bulk_label", "unlabel", "bulk_unlabel", "undo", "exclude", "include"],
                weights=[25, 20, 15, 5, 15, 10, 10],
            )[0]
            if kind in ("unlabel", "bulk_unlabel") and self.seen:
                face, idol = rng.choice(sorted(self.seen))
                some = [face, *some[1:]]
            if kind == "label":
                status, data = self.call("POST", f"/api/faces/{face}/labels/", {"idol": idol})
                self.acknowledge(kind, status, data, faces=[face], idol=idol)
            elif kind == "bulk_label":
                status, data = self.call("POST", "/api/faces/bulk/label/", {"faces": some, "idol": idol})
                self.acknowledge(kind, status, data, faces=some, idol=idol)
            elif kind == "unlabel":
                status, data = self.call("DELETE", f"/api/faces/{face}/labels/{idol}/")
                self.acknowledge(kind, status, data, faces=[face], idol=idol)
            elif kind == "bulk_unlabel":
                status, data = self.call("POST", "/api/faces/bulk/unlabel/", {"faces": some, "idol": idol})
                self.acknowledge(kind, status, data, faces=some, idol=idol)
            elif kind == "undo" and self.mine:
                batch = self.mine.pop(rng.randrange(len(self.mine)))
                status, data = self.call("POST", "/api/label-events/undo/", {"batch": batch})
                self.acknowledge(kind, status, data, undoes=batch)
            elif kind == "exclude":
                reason = rng.choice(["not_face", "not_target", "bad_crop"])
                status, data = self.call("POST", f"/api/faces/{face}/exclude/", {"reason": reason})
                self.acknowledge(kind, status, data, faces=[face])
            elif kind == "include":
                status, data = self.call("POST", f"/api/faces/{face}/include/")
                self.acknowledge(kind, status, data, faces=[face])


# --- one database ----------------------------------------------------------------------------


def free_port() -> int:
    for port in random.sample(list(PORTS), len(PORTS)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port in 18500-18599")


@contextlib.contextmanager
def postgres_database() -> Any:
    import psycopg2

    admin = psycopg2.connect(PG_SERVER + "/postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            cursor.execute(f"CREATE DATABASE {PG_DB}")
        yield f"{PG_SERVER}/{PG_DB}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        admin.close()


def run_child(env: dict[str, str], *flags: str) -> dict:
    command = [sys.executable, __file__, *flags]
    done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def serve(env: dict[str, str], port: int, args: argparse.Namespace, log: Path) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "idolsite.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(args.threads),
        "--timeout",
        "120",
        "--log-level",
        "warning",
    ]
    with log.open("w") as out:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    import requests

    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit(f"gunicorn stopped: {log.read_text()[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            requests.get(f"http://127.0.0.1:{port}/api/schema/", timeout=2)
            return server
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not answer within 60 s")


def run(db: str, args: argparse.Namespace) -> dict:
    import requests

    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp, contextlib.ExitStack() as stack:
        var = Path(tmp)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "idolsite.settings",
            "SECRET_KEY": "bench-concurrency-only-" + "k" * 40,
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "IDOLSITE_VAR_DIR": str(var),
            "IDOLSITE_MEDIA_ROOT": str(var / "media"),
            "IDOLSITE_MODEL_DIR": str(var / "models"),
            "IDOLSITE_TASKS_SYNC": "0",
            "IDOLSITE_AUTO_DETECT": "0",
            # 20 people at full speed: far above the per-user throttle, which is not what is measured.
            "IDOLSITE_THROTTLE_USER": "1000000/minute",
            "IDOLSITE_THROTTLE_ANON": "1000000/minute",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        env.pop("DATABASE_URL", None)
        env.pop("IDOLSITE_REDIS_URL", None)
        if db == "postgresql":
            env["DATABASE_URL"] = stack.enter_context(postgres_database())
        seed = run_child(env, "--seed", *forwarded(args))
        (var / "seed.json").write_text(json.dumps(seed))

        port = free_port()
        log = var / "gunicorn.log"
        server = serve(env, port, args, log)
        try:
            base = f"http://127.0.0.1:{port}"
            tokens = []
            for username in seed["users"]:
                answer = requests.post(
                    f"{base}/api/auth/token/", json={"username": username, "password": PASSWORD}, timeout=30
                )
                answer.raise_for_status()
                tokens.append(answer.json()["token"])
            deadline = time.monotonic() + args.seconds
            labelers = [Labeler(base, token, seed, deadline, i) for i, token in enumerate(tokens)]
            started = time.monotonic()
            for labeler in labelers:
                labeler.start()
            for labeler in labelers:
                labeler.join()
            elapsed = time.monotonic() - started
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()

        acks = [ack for labeler in labelers for ack in labeler.acks]
        (var / "acks.json").write_text(json.dumps(acks))
        check = run_child(env, "--check", str(var / "acks.json"))
        statuses = sum((labeler.statuses for labeler in labelers), Counter())
        latencies = [t for labeler in labelers for t in labeler.latencies]
        errors = [e for labeler in labelers for e in labeler.errors]
        server_log = [line for line in log.read_text().splitlines() if "Error" in line or "error" in line]
        return {
            "summary": {
                "requests": sum(statuses.values()),
                "server_errors": sum(n for code, n in statuses.items() if isinstance(code, int) and code >= 500)
                + statuses["connection_error"],
                "lost": check["lost"],
                "double_events": check["double_events"],
                "per_s": round(sum(statuses.values()) / max(elapsed, 0.001), 1),
                "p50_ms": round(pct(latencies, 0.5), 1),
                "p95_ms": round(pct(latencies, 0.95), 1),
            },
            "elapsed_s": round(elapsed, 1),
            "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
            "acknowledged": Counter(ack["kind"] for ack in acks),
            "check": check,
            "errors": errors[:5],
            "server_log": server_log[-10:],
        }


def forwarded(args: argparse.Namespace) -> list[str]:
    return [
        f"--labelers={args.labelers}",
        f"--faces={args.faces}",
        f"--idols={args.idols}",
    ]


def report(db: str, args: argparse.Namespace, result: dict) -> None:
    summary = result["summary"]
    print(
        f"\n{db}: {args.labelers} labelers for {result['elapsed_s']} s on {args.faces} shared faces, {args.idols} idols"
    )
    print(
        f"  requests {summary['requests']} ({summary['requests'] / max(result['elapsed_s'], 0.001):.0f}/s), "
        f"p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms"
    )
    print(f"  answers: {', '.join(f'{code}: {n}' for code, n in result['statuses'].items())}")
    print(f"  acknowledged actions: {', '.join(f'{k} {v}' for k, v in sorted(result['acknowledged'].items()))}")
    check = result["check"]
    print(
        f"  server errors {summary['server_errors']}, lost {summary['lost']} "
        f"(missing events by kind {check['missing_by_kind']}, unexplained final state {check['unexplained_state']}), "
        f"double events {summary['double_events']} {check['doubles_by_action'] or ''}"
    )
    for line in result["errors"] + result["server_log"]:
        print(f"  ! {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--labelers", type=int, default=20)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--faces", type=int, default=24, help="the faces every labeler works on")
    parser.add_argument("--idols", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.seed:
        child_seed(args)
        return
    if args.check:
        child_check(args)
        return
    summary = {}
    for db in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        result = run(db, args)
        report(db, args, result)
        summary[db] = result["summary"]
    print(json.dumps({"concurrency": summary}))


if __name__ == "__main__":
    main()
