"""Answer latency of the Mastodon bot: from a mention with a photo being on the server to the
bot's reply being posted, over 50 mentions.

    .venv/bin/python bench/bots_mastodon.py               # 50 mentions
    .venv/bin/python bench/bots_mastodon.py --mentions 10 --faces-per-person 5

A fresh SQLite database (a temporary folder) gets every person of ``../shared/data/faces``
with ``--faces-per-person`` labeled crops each, and the embedding recognizer is trained on them
as in production (dlib's vectors, then the head). A fake Mastodon server on 127.0.0.1
(``tests/bots/fakemastodon.py``, the tests' own) holds the mentions: photos of the same people
made from crops that were not labeled (``tests.bots.conftest.photo_of``), of varied sizes, one in
five with two people side by side (so that reply carries the numbered picture). The recognizer
is loaded before the clock starts (one question answered first).

Each mention is put on the server and a poll (``bots.mastodon.poll``) starts at once: the time
measured is the whole poll's path for it (reading the notifications, the bot's own id, the image
download, detection, embedding and naming, posting the picture and the reply), to the moment the
server receives the reply. The wait for the schedule to start the poll is not in it: it adds up
to ``IDOLSITE_MASTODON_POLL_MINUTES`` (half of it on average). Printed too: the recognition alone
(``answer_image``) and the poll's other work.

Prints readable lines, then one JSON line last:
{"bots": {"mastodon_p50_ms": a, "mastodon_p95_ms": b, "n": 50}}
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT.parent / "shared" / "data" / "faces"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=50)
    parser.add_argument("--faces-per-person", type=int, default=10)
    args = parser.parse_args()
    if not FACES.is_dir():
        sys.exit(f"needs the shared face crops at {FACES}")
    var = Path(tempfile.mkdtemp(prefix="bench-bots-mastodon-"))
    try:
        run(args, var)
    finally:
        shutil.rmtree(var, ignore_errors=True)


def run(args: argparse.Namespace, var: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "idolsite.settings",
            "SECRET_KEY": "bench-only",
            "DEBUG": "0",
            "IDOLSITE_VAR_DIR": str(var),
            "IDOLSITE_MEDIA_ROOT": str(var / "media"),
            "IDOLSITE_MODEL_DIR": str(var / "models"),
            "IDOLSITE_TASKS_SYNC": "1",
            "IDOLSITE_AUTO_DETECT": "0",
            "IDOLSITE_AUTO_EMBED": "0",
            "IDOLSITE_EMBEDDING_AUTO_RETRAIN": "0",
            "IDOLSITE_TRAINING_SETTLE_SECONDS": "0",  # train at once, not after the labels settle
            "IDOLSITE_FETCH_ALLOWED_HOSTS": "127.0.0.1",
            "IDOLSITE_FETCH_HOST_DELAY": "0",
            "LOG_LEVEL": "WARNING",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from PIL import Image

    from bots import mastodon
    from bots.models import BotAccount, BotQuestion
    from classifier.models import ModelVersion
    from faces import tasks as face_tasks
    from labeling.services import face_import, idol_create
    from tests.bots.conftest import photo_of
    from tests.bots.fakemastodon import FakeMastodon
    from tests.conftest import distinct_crops

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    people = sorted(p.name for p in FACES.iterdir() if p.is_dir())
    idols, labeled = {}, []
    for person in people:
        idols[person] = idol_create(name=person.replace("_", " "))
        for data in distinct_crops(person)[: args.faces_per_person]:
            labeled.append(face_import(data=data, idol=idols[person]).face_id)
    settings.IDOLSITE_EMBEDDING_AUTO_RETRAIN = True  # the vectors' arrival trains the recognizer, as in production
    face_tasks.embed_faces(labeled)
    version = ModelVersion.objects.get(is_active=True)
    assert version.kind == "embedding", version
    print(
        f"{len(people)} people, {len(labeled)} labeled faces, recognizer trained in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )

    def two_people(a: str, b: str, index: int) -> bytes:
        left, right = (Image.open(io.BytesIO(photo_of(p, index, side=400))) for p in (a, b))
        both = Image.new("RGB", (800, 400))
        both.paste(left, (0, 0))
        both.paste(right, (400, 0))
        out = io.BytesIO()
        both.save(out, format="JPEG", quality=90)
        return out.getvalue()

    recognized: list[float] = []
    answer_image = mastodon.answer_image

    def timed_answer(bot, data):
        start = time.perf_counter()
        try:
            return answer_image(bot, data)
        finally:
            recognized.append((time.perf_counter() - start) * 1000)

    mastodon.answer_image = timed_answer

    with FakeMastodon(token="bench-token") as server:
        posted: dict[str, float] = {}
        server.on_post = lambda status: posted.setdefault(status["in_reply_to_id"], time.perf_counter())
        bot = BotAccount.objects.create(
            name="bench", kind="mastodon", server=server.base, token="bench-token", language="en"
        )
        # Loaded: the detector, dlib and the head, through one question before the clock.
        server.mention("warmup", image=photo_of(people[0], 11))
        mastodon.poll(bot.pk)
        recognized.clear()

        latencies, polls, right, asked = [], [], 0, []
        for n in range(args.mentions):
            person = people[n % len(people)]
            index = 12 + (n // len(people)) % 6
            if n % 5 == 4:
                other = people[(n + 7) % len(people)]
                data, expect = two_people(person, other, index), [person, other]
            else:
                data, expect = photo_of(person, index, side=(320, 480, 640, 960)[n % 4]), [person]
            status = server.mention(
                f"fan{n}", image=data, visibility=("public", "unlisted", "private", "direct")[n % 4]
            )
            start = time.perf_counter()
            result = mastodon.poll(bot.pk)
            polls.append((time.perf_counter() - start) * 1000)
            assert result is not None and not result.error and status["id"] in posted, result
            latencies.append((posted[status["id"]] - start) * 1000)
            reply = server.replies_to(status["id"])[0]["text"]
            if all(idols[p].name in reply for p in expect):
                right += 1
            else:
                print(f"  missed {' + '.join(expect)}: {reply!r}", file=sys.stderr)
            asked.append(status["id"])
        db_latency = list(BotQuestion.objects.filter(external_id__in=asked).values_list("latency_ms", flat=True))

    n = len(latencies)
    print(f"mentions {n}, replies naming every person in the photo: {right}/{n}")
    print(f"mention on the server -> reply posted: p50 {pct(latencies, 0.5):.0f} ms, p95 {pct(latencies, 0.95):.0f} ms")
    print(
        f"  of it the recognition (answer_image): p50 {pct(recognized, 0.5):.0f} ms, p95 {pct(recognized, 0.95):.0f} ms"
    )
    print(f"  question recorded -> answered (the log's latency): p50 {pct(db_latency, 0.5):.0f} ms")
    print(
        f"  whole poll: p50 {pct(polls, 0.5):.0f} ms; plus the wait for the schedule (every "
        f"{settings.IDOLSITE_MASTODON_POLL_MINUTES} min)"
    )
    print(
        json.dumps(
            {
                "bots": {
                    "mastodon_p50_ms": round(pct(latencies, 0.5), 1),
                    "mastodon_p95_ms": round(pct(latencies, 0.95), 1),
                    "n": n,
                }
            }
        )
    )


if __name__ == "__main__":
    main()
