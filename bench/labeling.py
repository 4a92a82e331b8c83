"""Speed of the labeling pages at the talk's scale, on SQLite and PostgreSQL.

    .venv/bin/python bench/labeling.py                      # 200,000 faces, 1,000 idols, 30,000 labels
    .venv/bin/python bench/labeling.py --faces 20000        # a quick run
    .venv/bin/python bench/labeling.py --db sqlite          # one database

Each database is fresh (SQLite: a new file under bench/out/; PostgreSQL:
``idolsite_bench_labeling`` dropped and created again), migrated and seeded with
``manage.py seed_demo_data``. Server time is measured in-process with Django's test Client
(middleware, view, queries, template; no network): the grid page for each filter, walking ten
pages deep with the keyset cursor; the typeahead for a few hundred different queries
(prefixes of names and readings in hiragana, katakana and half-width katakana, aliases, groups,
handles); the photo feed for each filter, ten pages deep; the review page in each mode, five
pages deep (an active model with a suggestion for every visible face is added); and, as the
anchor, the Django admin's Face list. PostgreSQL is ANALYZEd after the
bulk load (autovacuum does it in production); SQLite is not (Django never does).

Prints a table per database, then one JSON line last:
{"labeling": {"<db>": {"grid_p95_ms": t, "typeahead_p95_ms": t, "admin_list_p95_ms": t, "queries_per_page": q,
"feed_p95_ms": t, "feed_queries_per_page": q, "home_p95_ms": t, "home_queries": q, "review_p95_ms": t,
"review_queries": q}}}
where grid_p95_ms (feed_p95_ms) is the worst filter's p95 and queries_per_page
(feed_queries_per_page) the most queries any grid (feed) page ran; the home page (``/``) with
all its counts, the review page's worst mode (BENCH_LABELING_PG_URL: another PostgreSQL
database to drop and fill). ``--explain``: the query plans, into bench/out/.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
NEXT = re.compile(r'id="next-page" href="[^"]*?after=([^&"]+)')
PG_URL = os.environ.get("BENCH_LABELING_PG_URL", "postgres://postgres@127.0.0.1:5432/idolsite_bench_labeling")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --- kana helpers for the typeahead's queries ------------------------------------------------

_HALF = dict(
    zip(
        "。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン",
        "｡｢｣､･ｦｧｨｩｪｫｬｭｮｯｰｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ",
        strict=True,
    )
)


def katakana(text: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in text)


def half_width(text: str) -> str:
    out = []
    for c in unicodedata.normalize("NFD", katakana(text)):
        out.append({"\u3099": "ﾞ", "\u309a": "ﾟ"}.get(c, _HALF.get(c, c)))
    return "".join(out)


# --- the child: one database ------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from faces.models import Source
    from labeling.models import Idol, IdolAlias, IdolGroup
    from labeling.roles import assign_role
    from labeling.text import kana_romaji, romaji_key

    started = time.perf_counter()
    if not args.reuse:
        call_command("migrate", verbosity=0)
        call_command("seed_demo_data", faces=args.faces, idols=args.idols, labels=args.labels, stdout=sys.stderr)
        seed_suggestions()
    if connection.vendor == "postgresql":
        # What autovacuum does after a bulk load (inserts start it since PostgreSQL 13): the
        # statistics, and the visibility map that lets counts read the indexes alone.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    seeded = time.perf_counter() - started
    print(f"[{connection.vendor}] migrated and seeded in {seeded:.0f} s", file=sys.stderr)

    User = get_user_model()
    User.objects.filter(username__in=["bench-labeler", "bench-admin"]).delete()
    labeler = User.objects.create_user("bench-labeler", password="x")
    assign_role(labeler, "labeler")
    boss = User.objects.create_superuser("bench-admin", password="x", email="")
    client = Client()
    client.force_login(labeler)
    gc.freeze()  # as idolsite/wsgi.py does once the application is loaded
    rnd = random.Random(7)

    def timed(c: Client, url: str, params: dict | None = None) -> tuple[float, object]:
        t = time.perf_counter()
        response = c.get(url, params or {})
        elapsed = (time.perf_counter() - t) * 1000
        assert response.status_code == 200, (url, params, response.status_code)
        return elapsed, response

    idols = list(Idol.objects.values_list("pk", flat=True))
    busy = list(Idol.objects.order_by("id").values_list("pk", flat=True)[:20])  # the most labeled (seed weights)
    groups = list(IdolGroup.objects.values_list("pk", flat=True))
    sources = list(Source.objects.values_list("pk", flat=True))
    filters = {
        "unlabeled": lambda: {"status": "unlabeled"},
        "labeled": lambda: {"status": "labeled"},
        "excluded": lambda: {"status": "excluded"},
        "all": lambda: {"status": "all"},
        "idol": lambda: {"status": "all", "idol": rnd.choice(busy + idols[:50])},
        "group": lambda: {"status": "all", "group": rnd.choice(groups)},
        "source": lambda: {"status": "unlabeled", "source": rnd.choice(sources)},
        "date range": lambda: {"status": "all", "date_from": "2000-01-01", "date_to": _days_ago(rnd.randint(30, 600))},
        "score 0.6-0.8": lambda: {"status": "unlabeled", "score_min": "0.6", "score_max": "0.8"},
        "sort oldest": lambda: {"status": "unlabeled", "sort": "oldest"},
        "sort score": lambda: {"status": "unlabeled", "sort": "score"},
        "sort -score": lambda: {"status": "labeled", "sort": "-score"},
    }
    rows = []

    def walk(url: str, label: str, make: Callable[[], dict[str, str]], warm_ups: int) -> int:
        """Ten pages deep per walk, after some warm-up; a row, and the queries of one page."""
        for _ in range(warm_ups):
            timed(client, url, make())
        samples = []
        for _ in range(args.walks):
            params = make()
            for _page in range(10):
                elapsed, response = timed(client, url, params)
                samples.append(elapsed)
                found = NEXT.search(response.content.decode())
                if not found:
                    break
                params = {**params, "after": unquote(found.group(1))}
        with CaptureQueriesContext(connection) as ctx:
            client.get(url, make())
        rows.append((label, len(samples), statistics.median(samples), pct(samples, 0.95), len(ctx.captured_queries)))
        return len(ctx.captured_queries)

    grid_queries = max(walk("/label/", f"grid: {name}", make, 2) for name, make in filters.items())
    if args.explain:
        explain(filters, rnd)

    # The photo feed: newest photos with their faces and labels, ten pages deep per filter.
    feed_filters = {
        "all": lambda: {},
        "unlabeled": lambda: {"unlabeled": "on"},
        "done": lambda: {"state": "done"},
        "waiting": lambda: {"state": "waiting"},
        "source": lambda: {"source": rnd.choice(sources)},
    }
    feed_queries = max(walk("/label/photos/", f"feed: {name}", make, 1) for name, make in feed_filters.items())

    # The typeahead: what people type, in every spelling.
    picks = rnd.sample(list(Idol.objects.values_list("name", "reading", "handles")), 60)
    queries: list[str] = []
    for name, reading, handles in picks:
        given = reading.split()[-1] if reading else ""
        queries += [reading[:1], reading[:2], reading[:3], katakana(reading[:3]), half_width(reading[:3])]
        queries += [name[:1], name[:2], given, katakana(given), half_width(given)]
        # Romaji as people type it: the given name, and the family name the short way (saito).
        if reading:
            queries += [kana_romaji(given), romaji_key(kana_romaji(reading.split()[0]))[:5]]
        if handles:
            queries.append(next(iter(handles.values()))[:4])
    queries += list(IdolAlias.objects.values_list("name", flat=True)[:40])
    queries += [g[:3] for g in IdolGroup.objects.values_list("name", flat=True)[:30]]
    queries = [q for q in queries if q.strip()]
    for q in queries[:5]:
        timed(client, "/label/idols/search/", {"q": q})
    samples = [timed(client, "/label/idols/search/", {"q": q})[0] for q in queries]
    samples += [timed(client, "/label/idols/search/", {"q": q, "deleted": "1"})[0] for q in queries[::4]]
    with CaptureQueriesContext(connection) as ctx:
        client.get("/label/idols/search/", {"q": queries[0]})
    rows.append(("typeahead", len(samples), statistics.median(samples), pct(samples, 0.95), len(ctx.captured_queries)))
    typeahead_p95 = pct(samples, 0.95)

    # The home page: counts, queues, the training, the sources.
    for _ in range(3):
        timed(client, "/")
    samples = [timed(client, "/")[0] for _ in range(args.walks * 10)]
    with CaptureQueriesContext(connection) as ctx:
        client.get("/")
    rows.append(("home", len(samples), statistics.median(samples), pct(samples, 0.95), len(ctx.captured_queries)))
    home_p95, home_queries = pct(samples, 0.95), len(ctx.captured_queries)

    # The review page: the active model's open suggestions in each mode, for all idols and for
    # one busy idol, five pages deep (offset paging, as the page's "next" link does).
    review_modes = {
        "confident": lambda: {"mode": "confident"},
        "uncertain": lambda: {"mode": "uncertain"},
        "margin": lambda: {"mode": "margin"},
        "mistakes": lambda: {"mode": "mistakes"},
        "one idol": lambda: {"mode": "confident", "idol": rnd.choice(busy)},
    }
    review_queries = 0
    for name, make in review_modes.items():
        timed(client, "/review/", make())
        samples = []
        for _ in range(args.walks):
            params = make()
            for depth in range(5):
                samples.append(timed(client, "/review/", {**params, "offset": depth * REVIEW_PAGE})[0])
        with CaptureQueriesContext(connection) as ctx:
            client.get("/review/", make())
        review_queries = max(review_queries, len(ctx.captured_queries))
        rows.append(
            (f"review: {name}", len(samples), statistics.median(samples), pct(samples, 0.95), len(ctx.captured_queries))
        )

    # The anchor: the Django admin's Face list.
    admin = Client()
    admin.force_login(boss)
    timed(admin, "/admin/faces/face/")
    samples = []
    for page in range(args.walks * 2):
        samples.append(timed(admin, "/admin/faces/face/", {"p": page % 10 + 1} if page else {})[0])
    with CaptureQueriesContext(connection) as ctx:
        admin.get("/admin/faces/face/")
    rows.append(
        ("admin Face list", len(samples), statistics.median(samples), pct(samples, 0.95), len(ctx.captured_queries))
    )
    admin_p95 = pct(samples, 0.95)

    result = {
        "vendor": connection.vendor,
        "rows": rows,
        "summary": {
            "grid_p95_ms": round(max(r[3] for r in rows if r[0].startswith("grid")), 1),
            "typeahead_p95_ms": round(typeahead_p95, 1),
            "admin_list_p95_ms": round(admin_p95, 1),
            "home_p95_ms": round(home_p95, 1),
            "queries_per_page": grid_queries,
            "feed_p95_ms": round(max(r[3] for r in rows if r[0].startswith("feed")), 1),
            "feed_queries_per_page": feed_queries,
            "home_queries": home_queries,
            "review_p95_ms": round(max(r[3] for r in rows if r[0].startswith("review")), 1),
            "review_queries": review_queries,
        },
        "seed_s": round(seeded),
    }
    print(json.dumps(result))


REVIEW_PAGE = 48  # classifier.views.review.PAGE_SIZE
ACCEPTED = 3000  # suggestions of the active model people accepted (about)


def explain(filters: dict[str, Callable[[], dict]], rnd: random.Random) -> None:
    """EXPLAIN ANALYZE of the grid's face query (first page) for each filter and of the review
    page's suggestion query in each mode, into bench/out/labeling-plans-<vendor>.txt."""
    from django.db import connection

    from classifier.selectors import Mode, suggestions_for
    from faces.models import Source
    from labeling.forms import GridFilterForm
    from labeling.models import IdolGroup
    from labeling.selectors import DEFAULT_PAGE_SIZE, face_grid_queryset

    groups = list(IdolGroup.objects.order_by("name").values_list("id", "name"))
    sources = list(Source.objects.order_by("name").values_list("id", "name"))
    options = {"analyze": True} if connection.vendor == "postgresql" else {}
    parts = []
    for name, make in filters.items():
        params = make()
        form = GridFilterForm(params, groups=groups, sources=sources)
        assert form.is_valid(), form.errors
        plan = face_grid_queryset(form.filters())[: DEFAULT_PAGE_SIZE + 1].explain(**options)
        parts.append(f"### grid: {name} {params}\n\n{plan}\n")
    for mode in Mode.ALL:
        plan = suggestions_for(mode=mode)[: REVIEW_PAGE + 1].explain(**options)
        parts.append(f"### review: {mode}\n\n{plan}\n")
    path = OUT / f"labeling-plans-{connection.vendor}.txt"
    path.write_text("\n".join(parts))
    print(f"plans: {path}", file=sys.stderr)


def seed_suggestions() -> None:
    """An active embedding model and its suggestion for every visible face, as after a
    training: the unlabeled faces' open; of the labeled ones, ``ACCEPTED`` accepted (the
    calibration table: what people confirmed since this model, which a burst of new labels
    replaces), the rest open and mostly agreeing with the label, one in ten not (the
    "possible mistakes" mode); a rejection for one accepted face in ten."""
    from django.db import transaction

    from classifier.models import ModelVersion, Recognizer, Suggestion, SuggestionRejection
    from faces.models import Face
    from labeling.models import FaceLabel, Idol

    rnd = random.Random(11)
    idols = list(Idol.all_objects.values_list("pk", flat=True))
    labeled = dict(FaceLabel.objects.values_list("face_id", "idol_id"))
    cum = list(itertools.accumulate(1.0 / (rank + 10) for rank in range(len(idols))))
    with transaction.atomic():
        version = ModelVersion.objects.create(
            directory="bench/none",
            format_version=1,
            kind=Recognizer.EMBEDDING,
            embedder="dlib",
            class_idol_ids=idols,
            input_size=150,
            fingerprint="bench",
            val_top1=0.9,
            is_active=True,
        )
        chunk, rejections = [], []
        ids = (
            Face.objects.filter(excluded=False).order_by("id").values_list("pk", flat=True).iterator(chunk_size=20_000)
        )
        share = ACCEPTED / max(1, len(labeled))
        for face_id in ids:
            idol = labeled.get(face_id)
            accepted = idol is not None and rnd.random() < share
            if idol is None or (not accepted and rnd.random() < 0.1):
                idol = rnd.choices(idols, cum_weights=cum)[0]
            p = round(rnd.betavariate(4, 1.5), 4)
            second = rnd.choice(idols)
            chunk.append(
                Suggestion(
                    face_id=face_id,
                    model_version=version,
                    idol_id=idol,
                    probability=p,
                    margin=round(p * rnd.random(), 4),
                    unknown=rnd.random() < 0.05,
                    top=[{"idol": idol, "p": p}, {"idol": second, "p": round((1 - p) / 2, 4)}],
                    status=Suggestion.Status.ACCEPTED if accepted else Suggestion.Status.PENDING,
                    labeled_other=face_id in labeled and labeled[face_id] != idol,
                )
            )
            if accepted and rnd.random() < 0.1:
                rejections.append(
                    SuggestionRejection(face_id=face_id, idol_id=second, model_version=version, probability=0.3)
                )
            if len(chunk) >= 5000:
                Suggestion.objects.bulk_create(chunk)
                chunk = []
        Suggestion.objects.bulk_create(chunk)
        SuggestionRejection.objects.bulk_create(rejections, batch_size=5000)
    print(f"suggestions: {Suggestion.objects.count()}", file=sys.stderr)


def _days_ago(days: int) -> str:
    from datetime import date, timedelta

    return (date.today() - timedelta(days=days)).isoformat()


# --- the parent: fresh databases, one child each -----------------------------------------------


def fresh_postgres() -> str:
    import psycopg2

    server, name = PG_URL.rsplit("/", 1)
    admin = psycopg2.connect(server + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return PG_URL


def run(db: str, args: argparse.Namespace) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    var = Path(tempfile.mkdtemp(prefix=f"bench-labeling-{db}-", dir=OUT))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "idolsite.settings",
        "SECRET_KEY": "bench-only",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "testserver",
        "IDOLSITE_VAR_DIR": str(var),
        "IDOLSITE_MEDIA_ROOT": str(var / "media"),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    if db == "postgresql":
        env["DATABASE_URL"] = PG_URL if args.reuse else fresh_postgres()
    command = [sys.executable, __file__, "--child", *sys.argv[1:]]
    done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=200_000)
    parser.add_argument("--idols", type=int, default=1_000)
    parser.add_argument("--labels", type=int, default=30_000)
    parser.add_argument("--walks", type=int, default=3, help="walks of ten pages per grid filter")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument(
        "--reuse", action="store_true", help="PostgreSQL: measure the database an earlier run seeded, as it is"
    )
    parser.add_argument(
        "--explain", action="store_true", help="write the grid's and review's query plans to bench/out/"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        child(args)
        return
    summary = {}
    for db in args.db.split(","):
        result = run(db, args)
        print(
            f"\n{db}: {args.faces:,} faces, {args.idols:,} idols, {args.labels:,} labels (seeded in {result['seed_s']} s)"
        )
        print(f"{'page':<24}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'queries':>9}")
        for name, n, p50, p95, queries in result["rows"]:
            print(f"{name:<24}{n:>6}{p50:>10.1f}{p95:>10.1f}{queries:>9}")
        summary[db] = result["summary"]
    print(json.dumps({"labeling": summary}))


if __name__ == "__main__":
    main()
