"""The bots end to end on a real `make run`: a LINE webhook and a Mastodon mention with a photo of
a shared person get her name back.

    .venv/bin/python bench/bots_e2e.py [--port 8010]

A fresh var folder (SQLite, media, models) in a temporary folder; `make run` starts the web
server and both task clusters; `manage.py import_faces` brings five crops each of the tests'
three shared people, which the workers embed and learn from (the automatic training, as a new
user gets it). Then a LINE bot and a Mastodon bot are added, pointed at fakes of the two services
on 127.0.0.1 (tests/linefake.py, tests/bots/fakemastodon.py): one signed webhook a person, and
one unlisted mention. The last line printed is one JSON object:

    {"bots_e2e": {"model_ready_s": m, "line_ok": true, "line_reply_s": [a, b, c], "forged_status": 400,
                  "mastodon_ok": true, "mastodon_reply_s": d}}

``model_ready_s``: from the import to an active recognizer (the training waits for labels to
settle); ``mastodon_reply_s`` includes the wait for the bot's poll schedule.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def _client_django(var: Path) -> None:
    """This process imports the tests' helpers, which need Django set up (its own var folder)."""
    import django

    saved = {k: os.environ.get(k) for k in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "IDOLSITE_VAR_DIR")}
    os.environ.update(DJANGO_SETTINGS_MODULE="idolsite.settings", SECRET_KEY="bench", IDOLSITE_VAR_DIR=str(var))
    django.setup()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8010)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="idolsite-bots-e2e-"))
    _client_django(work / "client")
    from tests.bots.conftest import PEOPLE, photo_of
    from tests.bots.fakemastodon import FakeMastodon
    from tests.conftest import distinct_crops
    from tests.linefake import FakeLine, image_event, sign, webhook_body

    faces = work / "faces"
    for person in PEOPLE:
        (faces / person).mkdir(parents=True)
        for i, data in enumerate(distinct_crops(person)[:5]):
            (faces / person / f"{i}.jpg").write_bytes(data)
    figures: dict = {}
    base = f"http://127.0.0.1:{args.port}"
    with FakeLine() as line, FakeMastodon(token="e2e-don") as don:
        env = dict(
            os.environ,
            IDOLSITE_VAR_DIR=str(work / "var"),
            IDOLSITE_LINE_API_URL=line.url,
            IDOLSITE_LINE_DATA_URL=line.url,
            IDOLSITE_FETCH_ALLOWED_HOSTS="127.0.0.1",  # the fake Mastodon's media
        )
        env.pop("DATABASE_URL", None)
        log = (work / "run.log").open("w")
        server = subprocess.Popen(
            ["make", "run", f"ADDR=127.0.0.1:{args.port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def manage(*command: str) -> str:
            done = subprocess.run(
                [PYTHON, "manage.py", *command],
                cwd=ROOT,
                env=dict(env, DEBUG="1"),
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            )
            return done.stdout

        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    urllib.request.urlopen(f"{base}/label/login/", timeout=2)
                    break
                except (urllib.error.URLError, ConnectionError):
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit(f"the server did not start: see {work / 'run.log'}") from None
                    time.sleep(1)
            started = time.monotonic()
            print(manage("import_faces", str(faces)).strip().splitlines()[-1], flush=True)
            active = (
                "from classifier.models import ModelVersion; print('ready', ModelVersion.objects.active() is not None)"
            )
            while "ready True" not in manage("shell", "-c", active):
                if time.monotonic() - started > 900:
                    raise SystemExit("no active recognizer after 15 minutes")
                time.sleep(3)
            figures["model_ready_s"] = round(time.monotonic() - started, 1)
            print(f"recognizer active after {figures['model_ready_s']} s", flush=True)

            manage(
                "shell",
                "-c",
                "from bots.models import BotAccount; BotAccount.objects.create(name='e2e', kind='line', "
                "secret='e2e-secret', token='e2e-token', language='en')",
            )
            replies, seconds = [], []
            for n, person in enumerate(PEOPLE):
                line.image(f"m{n}", photo_of(person))
                body = webhook_body(image_event(f"ev{n}", f"m{n}"))
                request = urllib.request.Request(
                    f"{base}/bots/line/e2e/",
                    data=body,
                    headers={"Content-Type": "application/json", "X-Line-Signature": sign("e2e-secret", body)},
                )
                clock = time.monotonic()
                urllib.request.urlopen(request, timeout=10)
                sent = line.wait_for(n + 1, timeout=120)
                seconds.append(round(time.monotonic() - clock, 2))
                replies.append(sent[n].texts[0] if len(sent) > n else "")
                print(f"LINE, {person}: {replies[-1]!r}", flush=True)
            forged = urllib.request.Request(f"{base}/bots/line/e2e/", data=body, headers={"X-Line-Signature": "x"})
            try:
                urllib.request.urlopen(forged, timeout=10)
                figures["forged_status"] = 200
            except urllib.error.HTTPError as refused:
                figures["forged_status"] = refused.code
            figures["line_ok"] = all(
                reply.startswith(person.replace("_", " ")) for person, reply in zip(PEOPLE, replies, strict=True)
            )
            figures["line_reply_s"] = seconds

            manage(
                "shell",
                "-c",
                "from bots.models import BotAccount; BotAccount.objects.create(name='e2e-don', kind='mastodon', "
                f"server='{don.base}', token='e2e-don', language='en')",
            )
            time.sleep(1)  # a bot's first poll takes the mentions made after it was added
            person = PEOPLE[1]
            status = don.mention("fan", image=photo_of(person), visibility="unlisted")
            clock = time.monotonic()
            while not don.replies_to(status["id"]) and time.monotonic() - clock < 300:
                time.sleep(0.5)
            figures["mastodon_reply_s"] = round(time.monotonic() - clock, 1)
            posted = don.replies_to(status["id"])
            print(f"Mastodon, {person}: {[(r['visibility'], r['content']) for r in posted]}", flush=True)
            figures["mastodon_ok"] = (
                len(posted) == 1
                and person.replace("_", " ") in posted[0]["content"]
                and posted[0]["visibility"] == "unlisted"
            )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(60)
            log.close()
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"bots_e2e": figures}))


if __name__ == "__main__":
    main()
