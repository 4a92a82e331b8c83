"""Benchmark of active learning: how many keystrokes a labeled face costs when the
model suggests and a person confirms, against labeling every face by hand.

    .venv/bin/python bench/active_learning.py [--faces DIR] [--people N] [--per-person N]
        [--seed-labels 3] [--epochs 10] [--max-rounds 8] [--target 0.95]
        [--recognizer embedding|network] [--vectors-cache FILE] [--hide-unknown]

Imports ``../shared/data/faces`` (or ``--faces DIR``: one folder per person) into a fresh SQLite
database, keeps ``--seed-labels`` labels per person and forgets the others (their true names are
the oracle), gives every face its vector (``faces.tasks.embed_faces`` in the worker's batches,
timed apart from the rounds; or, with ``--vectors-cache``, dlib vectors computed before), then
runs rounds through the product code: training of ``--recognizer`` (default the setting
IDOLSITE_RECOGNIZER; ``services.training_request`` then ``classifier.tasks.train``, as the worker
runs it; ``--epochs`` is the network's fast recipe of the rounds), ``classifier.tasks.suggest``
for the active model, and review with the services of the
review page (``suggestions_accept`` / ``suggestions_reject``), until ``--target`` of the faces
are labeled or ``--max-rounds`` rounds have run.

Counting model (the review page, "most confident first", all idols, PAGE_SIZE faces a page laid
out in COLUMNS columns; focus starts on the first face):

- the wrong guesses are rejected the cheaper of two ways (both are the page's keys):
  - arrows: the arrow keys from the focus to each (grid distance: rows + columns; after ``n``
    the focus moves on to the next open face by itself), then ``n`` (1);
  - pick mode: ``x`` (1; once: pick mode stays on across pages until ``Esc``), then each wrong
    face's key (``classifier.views.review.review_hints``: one key for the 42 faces of the page least
    likely right, two for the 6 others);
- then ``Enter`` (1) accepts every face of the page not rejected and loads the next faces
  (reviewed ones leave the list);
- a page whose guesses are right less often than ``--stop-rate`` ends the round (its keys are
  counted): the model is retrained on the new labels and the review goes on with its guesses;
  only suggestions with probability >= ``--min-probability`` are shown. The review page's
  confident mode leaves out the embedding recognizer's "unknown" guesses (faces far from every
  labeled face of the idol), and so does the bench; ``--hide-unknown`` leaves out the network's
  too (those faces are then labeled by hand).
- the seed labels are typed by hand: 3 keystrokes each (a typeahead pick), counted;
- faces still missing to reach the target when the rounds stop (no round left, or a round
  that added nothing) are labeled by hand: 3 keystrokes each, counted.

keystrokes per label = all keystrokes above / faces labeled at the end. The last line is:

    {"active_learning": {"keystrokes_per_label": k, "manual_keystrokes_per_label": 3, "rounds": n,
                         "final_top1": a, "wall_s": t, "recognizer": r, "embed_s": e}}

``final_top1`` is the final active model's top-1 on its validation split (the product metric);
``embed_s`` the time the faces' vectors took (part of ``wall_s``, not of the rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FACES = ROOT.parent / "shared" / "data" / "faces"
MANUAL_KEYS = 3
COLUMNS = 8
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="folder of face crops, one folder a person")
    parser.add_argument("--people", type=int, default=0, help="use only the first N people (0: all)")
    parser.add_argument("--per-person", type=int, default=0, help="at most N faces a person (0: all)")
    parser.add_argument(
        "--seed-labels",
        type=int,
        default=None,
        help="labels a person to start with (default: 3 for the embedding recognizer, which names an "
        "idol from her first labels; 10 for the network)",
    )
    parser.add_argument("--epochs", type=int, default=40, help="epochs of each round's training")
    parser.add_argument(
        "--min-steps",
        type=int,
        default=None,
        help="optimizer steps a round trains for at least (default: the setting's)",
    )
    parser.add_argument(
        "--warm-chain",
        type=int,
        default=None,
        help="warm starts in a row before one from scratch (0: every round from scratch; default: the setting's)",
    )
    parser.add_argument("--max-rounds", type=int, default=8)
    parser.add_argument("--target", type=float, default=0.95, help="fraction of faces labeled to stop at")
    parser.add_argument("--min-probability", type=float, default=0.0, help="suggestions shown from this probability")
    parser.add_argument(
        "--hide-unknown", action="store_true", help="leave out the guesses flagged unknown (the review page shows them)"
    )
    parser.add_argument("--stop-rate", type=float, default=0.5, help="a page right less often ends the round")
    parser.add_argument(
        "--recognizer",
        choices=("embedding", "network"),
        default=None,
        help="what each round trains (default: the setting IDOLSITE_RECOGNIZER, embedding)",
    )
    parser.add_argument(
        "--vectors-cache",
        type=Path,
        default=None,
        help="an .npz of dlib vectors (paths relative to --faces, vectors) stored instead of computing them",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep the database and models here")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def setup_django(workdir: Path, epochs: int, min_steps: int | None, warm_chain: int | None) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["IDOLSITE_MEDIA_ROOT"] = str(workdir / "media")
    os.environ["IDOLSITE_MODEL_DIR"] = str(workdir / "models")
    os.environ["IDOLSITE_VAR_DIR"] = str(workdir / "var")
    os.environ["IDOLSITE_TASKS_SYNC"] = "0"  # tasks are called here, as the workers call them
    os.environ["IDOLSITE_MIN_FACES_PER_CLASS"] = "5"  # 10 seed labels a person must make classes
    os.environ["IDOLSITE_TRAINING_EPOCHS"] = str(epochs)  # also for trainings the review enqueues
    # The bench calls the tasks itself: vectors are computed after the import, and each round's
    # training is its own (the review's own retraining would only queue runs no worker takes).
    os.environ["IDOLSITE_AUTO_EMBED"] = "0"
    os.environ["IDOLSITE_EMBEDDING_AUTO_RETRAIN"] = "0"
    if min_steps is not None:
        os.environ["IDOLSITE_TRAINING_MIN_STEPS"] = str(min_steps)
    if warm_chain is not None:
        os.environ["IDOLSITE_TRAINING_WARM_CHAIN"] = str(warm_chain)
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idolsite.settings")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def page_keys(wrong_positions: list[int], probabilities: list[float], picking: bool) -> tuple[int, bool]:
    """Keystrokes of one page, and whether pick mode is on after it: the wrong faces rejected
    with arrows + ``n`` or in pick mode (``x`` to start it, unless it is on from the pages
    before, then each one's hint), whichever takes fewer (leaving pick mode for the arrows is
    ``Esc``), then ``Enter``."""
    from classifier.views.review import review_hints

    if not wrong_positions:
        return 1, picking  # Enter, in either mode
    n = len(probabilities)
    arrows, focus, open_ = 0, 0, set(range(n))
    for pos in sorted(wrong_positions):
        arrows += abs(pos // COLUMNS - focus // COLUMNS) + abs(pos % COLUMNS - focus % COLUMNS) + 1
        open_.discard(pos)
        later = [p for p in sorted(open_) if p > pos]
        focus = later[0] if later else pos
    hints = review_hints(probabilities)
    picks = (0 if picking else 1) + sum(len(hints[pos]) for pos in wrong_positions)
    by_arrows = arrows + (1 if picking else 0)  # Esc first when pick mode is on
    if picks <= by_arrows:
        return picks + 1, True
    return by_arrows + 1, False


def embed_all(face_ids: list[int]) -> int:
    """Compute every face's vector with the product's task, in the batches the worker gets;
    returns the faces that have one."""
    from faces.models import FaceEmbedding
    from faces.selectors import current_model
    from faces.services.embeddings import EMBED_BATCH
    from faces.tasks import embed_faces

    for start in range(0, len(face_ids), EMBED_BATCH):
        result = embed_faces(face_ids[start : start + EMBED_BATCH])
        if result.startswith("the embedder cannot run"):
            sys.exit(result)
    name, model_hash = current_model()
    return FaceEmbedding.objects.of(embedder=name, model_hash=model_hash).computed().count()


def store_cached_vectors(path: Path, relative: dict[int, str]) -> int:
    """Store the vectors of ``path`` (an .npz: ``paths`` relative to the faces folder,
    ``vectors``) as the faces' dlib embeddings; returns how many faces got one."""
    import numpy as np
    from django.conf import settings

    from faces.models import FaceEmbedding
    from faces.selectors import current_model

    if settings.IDOLSITE_EMBEDDER != "dlib" or settings.IDOLSITE_EMBEDDER_MODEL:
        sys.exit("--vectors-cache holds vectors of dlib's default model: unset IDOLSITE_EMBEDDER and _MODEL")
    name, model_hash = current_model("dlib")
    try:
        cache = np.load(path, allow_pickle=False)
        by_path = dict(zip((str(p) for p in cache["paths"]), np.asarray(cache["vectors"], dtype="<f4"), strict=True))
    except (OSError, KeyError, ValueError) as exc:
        sys.exit(f"{path}: not a vectors cache (an .npz with paths and vectors): {exc}")
    rows = [
        FaceEmbedding(
            face_id=face_id,
            embedder=name,
            model_hash=model_hash,
            dimension=len(by_path[rel]),
            vector=by_path[rel].tobytes(),
        )
        for face_id, rel in relative.items()
        if rel in by_path
    ]
    FaceEmbedding.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def main() -> None:
    args = parse_args()
    if not args.faces.is_dir():
        sys.exit(f"{args.faces}: not a folder (give --faces DIR, one sub-folder per person)")
    started = time.monotonic()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="idolsite-bench-al-"))
    workdir.mkdir(parents=True, exist_ok=True)
    setup_django(workdir, args.epochs, args.min_steps, args.warm_chain)

    from django.conf import settings
    from django.core.management import call_command

    from classifier import services, tasks
    from classifier.models import ModelVersion, TrainingRun
    from classifier.selectors import Mode, suggestions_for
    from classifier.services.suggestions import suggestions_accept, suggestions_reject
    from classifier.views.review import PAGE_SIZE
    from core.errors import DuplicatePhoto
    from faces.models import Face
    from labeling.models import FaceLabel
    from labeling.services import face_import, idol_create

    recognizer = args.recognizer or settings.IDOLSITE_RECOGNIZER
    if args.seed_labels is None:
        args.seed_labels = 3 if recognizer == "embedding" else 10
    print(f"work folder: {workdir}; recognizer: {recognizer}; {args.seed_labels} seed labels a person")
    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    people = sorted(p for p in args.faces.iterdir() if p.is_dir())
    if args.people:
        people = people[: args.people]
    truth: dict[int, int] = {}
    relative: dict[int, str] = {}  # face id -> its file under --faces (for --vectors-cache)
    duplicates = 0
    seeds: list[int] = []
    for person in people:
        idol = idol_create(name=person.name.replace("_", " "))
        files = sorted(p for p in person.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if args.per_person:
            files = files[: args.per_person]
        ids = []
        for path in files:
            try:
                ids.append(face_import(data=path.read_bytes(), idol=idol, original_name=path.name).face_id)
                relative[ids[-1]] = path.relative_to(args.faces).as_posix()
            except DuplicatePhoto:  # the same file twice in the set: one face, as import_faces does
                duplicates += 1
        for face_id in ids:
            truth[face_id] = idol.pk
        seeds += rng.sample(ids, min(args.seed_labels, len(ids)))
    FaceLabel.objects.exclude(face_id__in=seeds).delete()  # the oracle keeps the true names
    total = len(truth)
    goal = int(total * args.target + 0.999999)
    print(
        f"import: {total} faces of {len(people)} people ({duplicates} duplicate files skipped), {len(seeds)} seed "
        f"labels, {time.monotonic() - started:.0f} s"
    )

    t = time.monotonic()
    if args.vectors_cache:
        stored, how = store_cached_vectors(args.vectors_cache, relative), f"from {args.vectors_cache}"
    else:
        stored, how = embed_all(sorted(truth)), "computed (faces.tasks.embed_faces)"
    embed_s = time.monotonic() - t
    without = total - stored
    print(
        f"vectors: {stored}/{total} faces {how}, {embed_s:.0f} s ({stored / max(embed_s, 1e-9):.1f} faces/s); "
        f"{without} without one (never suggested: labeled by hand if the target needs them)",
        flush=True,
    )

    keys = {"seed": MANUAL_KEYS * len(seeds), "review": 0, "manual": 0}
    counts = defaultdict(int)
    rounds = 0
    picking = False  # pick mode stays on across pages (and rounds) once started, until Esc
    final_top1 = None
    labeled = FaceLabel.objects.values("face_id").distinct().count()
    while labeled < goal and rounds < args.max_rounds:
        rounds += 1
        t = time.monotonic()
        run = services.training_request(
            reason=f"bench round {rounds}",
            epochs=args.epochs if recognizer == "network" else None,
            force=True,
            recognizer=recognizer,
        )
        tasks.train(run.pk)
        run = TrainingRun.objects.get(pk=run.pk)
        if run.status != TrainingRun.Status.SUCCEEDED:
            sys.exit(f"training failed: {run.status} {run.error}")
        # A network the embedding recognizer beats on the same faces stays inactive, and the
        # product queues an embedding training: run it, as the worker would.
        for queued in TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED).order_by("pk"):
            tasks.train(queued.pk)
        active = ModelVersion.objects.active()
        if active is None:  # the first model was not good enough to become active
            sys.exit(f"no active model after round {rounds}: run {run.pk}: {run.note}")
        warm = (run.metrics or {}).get("warm_start")
        start = f"from model {warm['from']}" if warm else "from scratch"
        train_s = time.monotonic() - t
        t = time.monotonic()
        tasks.suggest(active.pk)
        suggest_s = time.monotonic() - t
        accepted = rejected = pages = 0
        unknown = {"right": 0, "wrong": 0}  # the review page shows "unknown" guesses like the others
        page_rates: list[float] = []
        while True:
            shown = suggestions_for(mode=Mode.CONFIDENT).filter(probability__gte=args.min_probability)
            if args.hide_unknown:
                shown = shown.filter(unknown=False)
            page = list(shown[:PAGE_SIZE])
            if not page:
                break
            pages += 1
            wrong = [i for i, row in enumerate(page) if truth[row.face_id] != row.idol_id]
            right = [row.face_id for i, row in enumerate(page) if i not in set(wrong)]
            if wrong:
                suggestions_reject(faces=[page[i].face_id for i in wrong])
            if right:
                suggestions_accept(faces=right)
            for i, row in enumerate(page):
                if row.unknown:
                    unknown["wrong" if i in wrong else "right"] += 1
            page_cost, picking = page_keys(wrong, [row.probability for row in page], picking)
            keys["review"] += page_cost
            accepted += len(right)
            rejected += len(wrong)
            page_rates.append(len(right) / len(page))
            if len(right) / len(page) < args.stop_rate:
                break
        labeled = FaceLabel.objects.values("face_id").distinct().count()
        counts["accepted"] += accepted
        counts["rejected"] += rejected
        top1 = "-" if active.val_top1 is None else f"{active.val_top1:.3f}"
        print(
            f"round {rounds}: {active.kind} model {active.pk} (top-1 {top1}, run {run.pk} {run.note}, "
            f"{start}), "
            f"train {train_s:.0f} s, suggest {suggest_s:.0f} s; {pages} pages, {accepted} accepted, "
            f"{rejected} rejected (flagged unknown: {unknown['right']} right, {unknown['wrong']} wrong); labeled {labeled}/{total} ({labeled / total:.1%}); keys so far "
            f"{sum(keys.values())}; pages right: {' '.join(f'{r:.2f}' for r in page_rates)}",
            flush=True,
        )
        final_top1 = active.val_top1
        if accepted == 0:
            print("  no suggestion accepted this round: the rounds stop")
            break
    wrong_labels = sum(1 for f, i in FaceLabel.objects.values_list("face_id", "idol_id") if truth.get(f) != i)
    if labeled < goal:
        missing = goal - labeled
        keys["manual"] = MANUAL_KEYS * missing
        print(f"by hand to reach {args.target:.0%}: {missing} faces, {keys['manual']} keystrokes")
        labeled = goal
    active = ModelVersion.objects.active()
    final_top1 = active.val_top1 if active else final_top1
    total_keys = sum(keys.values())
    wall = time.monotonic() - started
    assert Face.objects.count() == total
    print(
        f"keystrokes: seed {keys['seed']}, review {keys['review']}, by hand {keys['manual']}; "
        f"{counts['accepted']} accepted, {counts['rejected']} rejected, {wrong_labels} wrong labels; "
        f"review only: {keys['review'] / max(counts['accepted'], 1):.3f} keys an accepted face"
    )
    print(f"load average at the end: {os.getloadavg()}; wall {wall:.0f} s")
    result = {
        "active_learning": {
            "keystrokes_per_label": round(total_keys / labeled, 4),
            "manual_keystrokes_per_label": MANUAL_KEYS,
            "rounds": rounds,
            "final_top1": None if final_top1 is None else round(final_top1, 4),
            "wall_s": round(wall),
            "recognizer": recognizer,
            "embed_s": round(embed_s),
        }
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
