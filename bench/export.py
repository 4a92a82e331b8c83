"""Dataset export throughput at the talk's scale: faces per second for each format, and memory.

    .venv/bin/python bench/export.py                  # 200,000 labeled faces, SQLite
    .venv/bin/python bench/export.py --faces 20000    # a quick run
    make bench-export BENCH_ARGS="--faces 20000"

A fresh SQLite database and media folder under bench/out/ (removed at the end unless --keep),
migrated and seeded with ``manage.py seed_demo_data`` with every face labeled (in a process of
its own; the exports run in a fresh one). The seeder shares
a dozen crop files among all faces; here each face then gets its own crop file (a copy of its
shared one), so ImageFolder and TFRecord read one real file per face, as in production.

Each format runs as the API runs it: ``services.export_request`` then the task
``labeling.tasks.export_dataset`` (the export to a work folder, the zip archive, its move into
the media storage), timed as a whole; faces/s is the faces written over that time. The archive
is checked (entries, size) and deleted before the next format. Memory: the process's resident
set is sampled every 0.2 s; ``peak_rss_mb`` is the highest of the whole run, and for each format
the RSS in the first and last tenth of its run shows whether it grows with the faces (TensorFlow,
imported before the tfrecord export, which runs last, is timed apart: ``tfrecord_import_s``).

Prints a table, then one JSON line last:
{"export": {"faces": n, "imagefolder_faces_per_s": r, "tfrecord_faces_per_s": r, "coco_faces_per_s": r,
"peak_rss_mb": m, ...}}
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FORMATS = ("coco", "imagefolder", "tfrecord")


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Sampler:
    """The resident set every ``every`` seconds, from a thread, with the time of each sample."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), rss_mb()))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> list[float]:
        return [mb for t, mb in self.samples if start <= t <= end]


def unique_crops() -> int:
    """Each face's own crop file: a copy of the shared one it points to."""
    from django.core.files.storage import default_storage
    from django.db import connection, transaction

    from faces.models import Face

    shared = {
        name: default_storage.open(name, "rb").read() for name in Face.objects.values_list("crop", flat=True).distinct()
    }
    root = Path(default_storage.path("benchcrops"))
    written, made = 0, set()
    for pk, crop in Face.objects.order_by("pk").values_list("pk", "crop").iterator(chunk_size=5000):
        folder = root / f"{pk // 1000:04d}"
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        (folder / f"{pk}.jpg").write_bytes(shared[crop])
        written += 1
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE faces_face SET crop = 'benchcrops/' || substr('0000' || (id / 1000), -4) || '/' || id || '.jpg'"
        )
    return written


def child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from labeling import services
    from labeling.models import DatasetExport
    from labeling.tasks import export_dataset

    if args.child == "seed":
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        call_command("seed_demo_data", faces=args.faces, idols=args.idols, labels=args.faces, stdout=sys.stderr)
        seeded = time.perf_counter() - started
        crops_started = time.perf_counter()
        n_crops = unique_crops()
        print(
            f"[{connection.vendor}] seeded in {seeded:.0f} s; {n_crops:,} crop files in"
            f" {time.perf_counter() - crops_started:.0f} s; RSS {rss_mb():.0f} MB",
            file=sys.stderr,
        )
        print(json.dumps({"seed_s": round(seeded)}))
        return
    print(f"[{connection.vendor}] a fresh process for the exports: RSS {rss_mb():.0f} MB", file=sys.stderr)
    rows, summary = [], {"faces": args.faces}
    with Sampler() as sampler:
        for name in args.formats.split(","):
            if name == "tfrecord":  # a worker imports TensorFlow once, not per export
                t_import = time.perf_counter()
                import tensorflow  # noqa: F401

                summary["tfrecord_import_s"] = round(time.perf_counter() - t_import, 1)
            t0 = time.perf_counter()
            # Tasks run in sync mode: the request runs the export when it commits; the task
            # call after it finds the export taken and returns at once (queued mode: it runs it).
            export = services.export_request(format=name, split=0.8 if name != "coco" else None)
            export_dataset(export.pk)
            seconds = time.perf_counter() - t0
            export.refresh_from_db()
            if export.status != DatasetExport.Status.DONE:
                raise SystemExit(f"{name}: {export.status}: {export.error}")
            with zipfile.ZipFile(export.file.path) as archive:
                entries = len(archive.infolist())
            first = sampler.between(t0, t0 + seconds / 10) or [rss_mb()]
            last = sampler.between(t0 + seconds * 0.9, t0 + seconds) or [rss_mb()]
            during = sampler.between(t0, t0 + seconds) or [rss_mb()]
            rate = export.done / seconds
            rows.append(
                (name, export.done, seconds, rate, export.size / 2**20, entries, max(first), max(last), max(during))
            )
            print(f"  {name}: {export.done:,} faces in {seconds:.1f} s ({rate:,.0f}/s)", file=sys.stderr)
            summary[f"{name}_faces_per_s"] = round(rate, 1)
            summary[f"{name}_seconds"] = round(seconds, 1)
            summary[f"{name}_rss_mb_first_last_tenth"] = [round(max(first)), round(max(last))]
            services.export_delete(export=export)
        summary["peak_rss_mb"] = round(max(mb for _, mb in sampler.samples))
    print(json.dumps({"rows": rows, "summary": summary}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=200_000)
    parser.add_argument("--idols", type=int, default=1_000)
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated, in this order")
    parser.add_argument("--keep", action="store_true", help="keep the database and media folder under bench/out/")
    parser.add_argument("--child", choices=["seed", "export"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        child(args)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    var = Path(tempfile.mkdtemp(prefix="bench-export-", dir=OUT))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "idolsite.settings",
        "SECRET_KEY": "bench-only",
        "DEBUG": "0",
        "IDOLSITE_VAR_DIR": str(var),
        "IDOLSITE_MEDIA_ROOT": str(var / "media"),
        "IDOLSITE_TASKS_SYNC": "1",
        "LOG_LEVEL": "WARNING",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    env.pop("DATABASE_URL", None)
    result = {}
    try:
        # Seeding holds its rows in memory: the exports run in a process of their own.
        for step in ("seed", "export"):
            command = [sys.executable, __file__, "--child", step, *sys.argv[1:]]
            done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
            result.update(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        if not args.keep:
            shutil.rmtree(var, ignore_errors=True)
    print(f"\nSQLite: {args.faces:,} labeled faces, {args.idols:,} idols (seeded in {result['seed_s']} s)")
    print(
        f"{'format':<13}{'faces':>9}{'s':>8}{'faces/s':>9}{'zip MB':>8}{'entries':>9}{'RSS MB first/last tenth, peak':>32}"
    )
    for name, faces, seconds, rate, size, entries, first, last, peak in result["rows"]:
        print(
            f"{name:<13}{faces:>9,}{seconds:>8.1f}{rate:>9,.0f}{size:>8.1f}{entries:>9,}{f'{first:.0f} / {last:.0f}, {peak:.0f}':>32}"
        )
    print(json.dumps({"export": result["summary"]}))


if __name__ == "__main__":
    main()
