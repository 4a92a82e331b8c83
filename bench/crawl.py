"""Crawl benchmark: photos per minute crawled and detected with two workers.

A local HTTP server on 127.0.0.1 serves an RSS feed of N photos (default 500) made from the
shared face crops pasted onto backgrounds (1 to 3 faces each), plus re-encoded reposts of some
of them under other URLs. A fresh SQLite database and media folder are made; a django-q2
cluster with two workers (the ORM broker, as embedded) runs; ``manage.py crawl`` stores the
photos, which go to detection on their own. The clock stops when every photo is detected (or
failed). Duplicates stored twice are counted (the target is 0).

    .venv/bin/python bench/crawl.py [--photos 500] [--faces ../shared/data/faces] [--reposts 50]

The last line printed is one JSON object: {"crawl": {"photos": n, "per_minute": r, "duplicates_stored": 0}}.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.projectenv import project_env  # noqa: E402
from tests.webserver import Answer, LocalWebServer  # noqa: E402


def make_photos(faces_dir: Path, count: int, seed: int = 7) -> list[bytes]:
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    crops = sorted(faces_dir.glob("*/*.jpg"))
    if not crops:
        raise SystemExit(f"no face crops under {faces_dir}")
    photos = []
    for n in range(count):
        width, height = rng.choice([(640, 480), (800, 600), (1024, 768)])
        background = Image.new("RGB", (width, height), tuple(rng.randrange(40, 220) for _ in range(3)))
        draw = ImageDraw.Draw(background)
        for _ in range(6):
            x, y = rng.randrange(width), rng.randrange(height)
            draw.rectangle(
                [x, y, x + rng.randrange(40, 200), y + rng.randrange(40, 200)],
                fill=tuple(rng.randrange(256) for _ in range(3)),
            )
        for _ in range(rng.choice([1, 1, 2, 3])):
            face = Image.open(rng.choice(crops)).convert("RGB")
            side = rng.randrange(90, min(width, height) // 2)
            face = face.resize((side, side))
            background.paste(face, (rng.randrange(0, width - side), rng.randrange(0, height - side)))
        buffer = io.BytesIO()
        background.save(buffer, format="JPEG", quality=88)
        photos.append(buffer.getvalue())
        del n
    return photos


def reencode(data: bytes) -> bytes:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    buffer = io.BytesIO()
    image.resize((image.width * 3 // 4, image.height * 3 // 4)).save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=500)
    parser.add_argument("--reposts", type=int, default=50)
    parser.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "data" / "faces")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()

    print(f"making {args.photos} photos from {args.faces} ...", flush=True)
    photos = make_photos(args.faces, args.photos)
    rng = random.Random(3)
    reposts = [reencode(photos[i]) for i in rng.sample(range(len(photos)), min(args.reposts, len(photos)))]

    work = Path(tempfile.mkdtemp(prefix="idolsite-bench-crawl-"))
    env = project_env(
        work, IDOLSITE_FETCH_ALLOWED_HOSTS="127.0.0.1", IDOLSITE_FETCH_HOST_DELAY="0", IDOLSITE_WORKERS="2"
    )
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    with LocalWebServer() as web:
        entries = []
        for i, data in enumerate(photos):
            web.routes[f"/p/{i}.jpg"] = Answer(body=data, headers={"Content-Type": "image/jpeg"})
            entries.append((f"photo-{i}", f"/p/{i}.jpg"))
        for i, data in enumerate(reposts):
            web.routes[f"/repost/{i}.jpg"] = Answer(body=data, headers={"Content-Type": "image/jpeg"})
            entries.append((f"repost-{i}", f"/repost/{i}.jpg"))
        rng.shuffle(entries)
        items = "".join(
            f"<item><guid>{guid}</guid><link>{web.base}/post/{guid}</link>"
            f"<enclosure url='{web.base}{path}' type='image/jpeg'/></item>"
            for guid, path in entries
        )
        web.routes["/feed.xml"] = Answer(
            body=f"<rss version='2.0'><channel><title>bench</title>{items}</channel></rss>".encode(),
            headers={"Content-Type": "application/rss+xml"},
        )
        setup = (
            "import django; django.setup()\n"
            "from faces.models import Source\n"
            f"Source.objects.create(kind='rss', name='bench', locator='{web.base}/feed.xml', enabled=False)\n"
        )
        subprocess.run([python, "-c", setup], cwd=ROOT, env=env, check=True)

        cluster = subprocess.Popen(
            [python, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(work / "qcluster.log").open("w"),
            start_new_session=True,
        )
        try:
            time.sleep(3)
            started = time.monotonic()
            crawl = subprocess.run(
                [python, "manage.py", "crawl", "bench", "-v0"], cwd=ROOT, env=env, capture_output=True, text=True
            )
            crawled_at = time.monotonic() - started
            print(crawl.stdout.strip() or crawl.stderr.strip()[-500:], flush=True)
            status = (
                "import django; django.setup()\n"
                "from faces.models import Photo, Face\n"
                "print(Photo.objects.count(), Photo.objects.filter(status='new').count(), "
                "Photo.objects.filter(status='failed').count(), Face.objects.count())"
            )
            while True:
                out = subprocess.run(
                    [python, "-c", status], cwd=ROOT, env=env, capture_output=True, text=True
                ).stdout.split()
                stored, pending, failed, faces = (int(v) for v in out)
                elapsed = time.monotonic() - started
                print(
                    f"  {elapsed:6.0f} s: {stored} stored, {pending} waiting for detection, {failed} failed, {faces} faces",
                    flush=True,
                )
                if pending == 0 or elapsed > args.timeout:
                    break
                time.sleep(10)
            total = time.monotonic() - started
        finally:
            cluster.send_signal(signal.SIGTERM)
            try:
                cluster.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)

    duplicates_stored = max(0, stored - len(photos))
    per_minute = stored / (total / 60) if pending == 0 else 0.0
    print(
        f"crawled {stored} photos in {crawled_at:.0f} s; crawled and detected in {total:.0f} s "
        f"({per_minute:.1f} photos/min, 2 workers); {faces} faces; {failed} failed; "
        f"{duplicates_stored} duplicates stored; {len(reposts)} reposts offered"
    )
    print(
        json.dumps(
            {
                "crawl": {
                    "photos": stored,
                    "per_minute": round(per_minute, 1),
                    "duplicates_stored": duplicates_stored,
                    "crawl_only_s": round(crawled_at, 1),
                    "total_s": round(total, 1),
                    "faces": faces,
                    "pending": pending,
                }
            }
        )
    )


if __name__ == "__main__":
    main()
