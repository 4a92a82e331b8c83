"""Bot answer latency: from the webhook (or mention) to the reply the chat service receives,
with the recognizer loaded.

    .venv/bin/python bench/bots.py [--n 50] [--transports line] [--workdir DIR]
    make bench-bots

A fresh SQLite database with its own media and model folders (a temporary folder, or
``--workdir``); the embedding recognizer trained, as in production (labels retrain it), on five
crops each of the tests' three shared people (tests/bots/conftest.py); then ``--n`` photos of
them (other crops, three sizes, every fifth a pair side by side) are sent to each transport's
bot through its real path, with the task queue synchronous (a worker's work, in process) and a
fake of the chat service on 127.0.0.1. One photo first, not counted, loads the models.

- **line**: a signed webhook POSTed with Django's test client to /bots/line/<bot>/; the clock
  runs from the POST to the reply arriving at the fake LINE API (the image is fetched from it
  too).

Each transport is one function ``bench_<name>(photos) -> dict`` of its figures, prefixed with its
name, that starts its own fake service (and points the settings at it). The last line printed is one JSON object:

    {"bots": {"line_p50_ms": a, "line_p95_ms": b, "line_named_right": k, "line_faces_named_wrong": w, "n": 50}}

``named_right``: photos whose answer names every person in it, left to right (the others said
"unknown" or named someone else); ``faces_named_wrong``: faces given another person's name.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.linefake import FakeLine  # noqa: E402

TRAINING_CROPS = 5  # a person's first distinct crops train the recognizer; the photos use others


@dataclass
class Photo:
    data: bytes
    names: list[str]  # the people in it, left to right


def make_photos(n: int) -> list[Photo]:
    from PIL import Image

    from tests.bots.conftest import PEOPLE, photo_of
    from tests.conftest import distinct_crops

    crops = {person: len(distinct_crops(person)) for person in PEOPLE}
    photos = []
    for i in range(n):
        people = [PEOPLE[i % 3], PEOPLE[(i + 1) % 3]] if i % 5 == 4 else [PEOPLE[i % 3]]
        side = (360, 480, 640)[i % 3]
        frames = [
            photo_of(person, TRAINING_CROPS + (7 * i + k) % (crops[person] - TRAINING_CROPS), side=side)
            for k, person in enumerate(people)
        ]
        if len(frames) == 1:
            data = frames[0]
        else:
            pair = Image.new("RGB", (side * 2, side))
            for k, frame in enumerate(frames):
                pair.paste(Image.open(io.BytesIO(frame)), (k * side, 0))
            out = io.BytesIO()
            pair.save(out, format="JPEG", quality=90)
            data = out.getvalue()
        photos.append(Photo(data, [p.replace("_", " ") for p in people]))
    return photos


def judged(text: str, names: list[str]) -> tuple[bool, int]:
    """(every face named right, left to right; faces given another person's name)."""
    lines = text.splitlines()
    said = [line.lstrip("0123456789. ") for line in (lines[1:] if len(lines) > 1 else lines)]
    if len(said) != len(names):
        return False, 0
    wrong = sum(1 for line, name in zip(said, names, strict=True) if not line.startswith(("unknown", name)))
    return all(line.startswith(name) for line, name in zip(said, names, strict=True)), wrong


def percentiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(statistics.median(values), 1), round(cuts[94], 1)


def bench_line(photos: list[Photo]) -> dict[str, float | int]:
    with FakeLine() as fake:
        return _bench_line(photos, fake)


def _bench_line(photos: list[Photo], fake: FakeLine) -> dict[str, float | int]:
    from django.conf import settings
    from django.test import Client

    from bots.models import BotAccount
    from tests.linefake import image_event, sign, webhook_body

    settings.IDOLSITE_LINE_API_URL = settings.IDOLSITE_LINE_DATA_URL = fake.url
    bot = BotAccount.objects.create(name="bench-line", kind="line", secret="bench-secret", token="bench-token")
    bot.language = "en"
    bot.save()
    client = Client()

    def ask(number: int, photo: Photo) -> tuple[float, str]:
        fake.image(f"m{number}", photo.data)
        body = webhook_body(image_event(f"ev-{number}", f"m{number}"))
        before = len(fake.sent)
        started = time.monotonic()
        response = client.post(
            f"/bots/line/{bot.name}/",
            body,
            content_type="application/json",
            headers={"X-Line-Signature": sign(bot.secret, body)},
        )
        assert response.status_code == 200, response
        sent = fake.wait_for(before + 1)[before]
        return (sent.at - started) * 1000, sent.texts[0]

    ask(0, photos[0])  # loads the detector and the embedder
    latencies, right, wrong = [], 0, 0
    for number, photo in enumerate(photos, start=1):
        ms, text = ask(number, photo)
        latencies.append(ms)
        all_right, named_wrong = judged(text, photo.names)
        right, wrong = right + all_right, wrong + named_wrong
        if not all_right:
            print(f"line: photo {number} of {', '.join(photo.names)} answered {text!r}", flush=True)
    p50, p95 = percentiles(latencies)
    return {"line_p50_ms": p50, "line_p95_ms": p95, "line_named_right": right, "line_faces_named_wrong": wrong}


TRANSPORTS: dict[str, Callable[[list[Photo]], dict[str, float | int]]] = {"line": bench_line}


def setup_django(workdir: Path) -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "IDOLSITE_MEDIA_ROOT": str(workdir / "media"),
            "IDOLSITE_MODEL_DIR": str(workdir / "models"),
            "IDOLSITE_VAR_DIR": str(workdir / "var"),
            "IDOLSITE_TASKS_SYNC": "1",  # the worker's work runs in this process, on commit
            "IDOLSITE_AUTO_DETECT": "0",
            "IDOLSITE_AUTO_EMBED": "0",
            "IDOLSITE_EMBEDDING_AUTO_RETRAIN": "1",
            "IDOLSITE_TRAINING_SETTLE_SECONDS": "0",
            "IDOLSITE_PUBLIC_URL": "https://testserver",
            "ALLOWED_HOSTS": "testserver",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "idolsite.settings",
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
    )
    os.environ.pop("IDOLSITE_REDIS_URL", None)
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    import django

    django.setup()


def train_recognizer() -> None:
    from classifier.models import ModelVersion
    from faces import tasks as face_tasks
    from labeling.services import face_import, idol_create
    from tests.bots.conftest import PEOPLE
    from tests.conftest import distinct_crops

    labeled = []
    for person in PEOPLE:
        idol = idol_create(name=person.replace("_", " "))
        labeled += [face_import(data=data, idol=idol).face_id for data in distinct_crops(person)[:TRAINING_CROPS]]
    face_tasks.embed_faces(labeled)  # the labeled vectors retrain the embedding recognizer
    if not ModelVersion.objects.filter(is_active=True).exists():
        raise SystemExit("no active model after embedding the labeled faces")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="photos sent to each transport")
    parser.add_argument("--transports", default=",".join(TRANSPORTS), help=f"comma-separated: {', '.join(TRANSPORTS)}")
    parser.add_argument("--workdir", type=Path, help="keep the database and files here (default: a temporary folder)")
    args = parser.parse_args()
    chosen = [t.strip() for t in args.transports.split(",") if t.strip()]
    if unknown := set(chosen) - set(TRANSPORTS):
        sys.exit(f"unknown transports: {', '.join(sorted(unknown))}")
    from tests.conftest import SHARED_FACES

    if not SHARED_FACES.is_dir():
        sys.exit(f"needs the shared face crops at {SHARED_FACES}")

    with tempfile.TemporaryDirectory(prefix="bench-bots-") as temp:
        workdir = args.workdir or Path(temp)
        workdir.mkdir(parents=True, exist_ok=True)
        setup_django(workdir)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        started = time.monotonic()
        train_recognizer()
        print(f"recognizer trained in {time.monotonic() - started:.1f} s", flush=True)
        photos = make_photos(args.n)
        figures: dict[str, float | int] = {}
        for name in chosen:
            found = TRANSPORTS[name](photos)
            print(f"{name}: {found}", flush=True)
            figures.update(found)
    print(json.dumps({"bots": {**figures, "n": args.n}}))


if __name__ == "__main__":
    main()
