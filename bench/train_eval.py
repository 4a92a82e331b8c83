"""Benchmark of the recognizers: fresh database, import, embed, train on the CPU, compare.

    .venv/bin/python bench/train_eval.py [--faces DIR] [--cnn-epochs N | --skip-cnn] [--seed-epochs N]

Imports ``../shared/data/faces`` (or ``--faces DIR``: one folder per person) into a fresh
SQLite database with its own media and model folders, embeds every face as the default worker
does (``faces.tasks.embed_faces``, timed, with the bare library call beside it), trains the
embedding recognizer through the product code path (``services.training_request``, then
``classifier.tasks.train`` as the worker runs it), then on the same validation split: few-shot
and open-set runs of the embedding head, eigenfaces (PCA -> SVC), the network from scratch
through the product path (``--skip-cnn`` leaves it out: about 15 CPU-minutes) and, on request,
the talk's network. The last line is one JSON object:

    {"train": {"top1": a, "cnn_top1": c, "eigenfaces_top1": e, "fewshot": {"1": .., "3": .., "5": .., "10": ..},
     "open_set": {"strangers_accepted": s, "known_accepted_right": k}, "head_train_s": t, "embed_faces_per_s": r, ...}}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FACES = ROOT.parent / "shared" / "data" / "faces"
FEWSHOT_SHOTS = (1, 3, 5, 10)
FEWSHOT_DRAWS = 5
STRANGERS_PER_GROUP = 4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="folder of face crops, one folder a person")
    parser.add_argument(
        "--cnn-epochs",
        "--epochs",
        dest="cnn_epochs",
        type=int,
        default=None,
        help="epochs of the network from scratch (default: its recipe)",
    )
    parser.add_argument("--skip-cnn", action="store_true", help="leave out the network from scratch")
    parser.add_argument("--seed-epochs", type=int, default=0, help="epochs of the talk's network (default 0: skip it)")
    parser.add_argument("--bare-faces", type=int, default=512, help="faces the bare library call is timed on")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the database and models here")
    return parser.parse_args(argv)


def setup_django(workdir: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["IDOLSITE_MEDIA_ROOT"] = str(workdir / "media")
    os.environ["IDOLSITE_MODEL_DIR"] = str(workdir / "models")
    os.environ["IDOLSITE_VAR_DIR"] = str(workdir / "var")
    # The task runs here, called as the training worker calls it (django-q2's sync mode would
    # apply the default cluster's 600 s timeout to it).
    os.environ["IDOLSITE_TASKS_SYNC"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idolsite.settings")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _arrays(vectors: Any, labels: Any, validation: Any) -> tuple[Any, Any, Any, int]:
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    validation = np.asarray(validation, dtype=bool)
    if not (len(vectors) == len(labels) == len(validation)) or vectors.ndim != 2:
        raise ValueError("vectors (n, d), labels (n,) and validation (n,) must have the same n")
    if len(labels) == 0 or labels.min() < 0:
        raise ValueError("labels must be class indices 0 .. n_classes - 1")
    n_classes = int(labels.max()) + 1
    for c in range(n_classes):
        if not (~validation & (labels == c)).any():
            raise ValueError(f"class {c} has no face on the training side")
    if not validation.any():
        raise ValueError("no face on the validation side")
    return vectors, labels, validation, n_classes


def few_shot(
    vectors: Any,
    labels: Any,
    validation: Any,
    *,
    shots: tuple[int, ...] = FEWSHOT_SHOTS,
    draws: int = FEWSHOT_DRAWS,
    recipe: Any = None,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """For each ``k`` in ``shots``: ``draws`` times, a head trained on ``k`` faces a person drawn
    from the training side (all of hers when she has fewer), top-1 on every validation face.
    Returns {"k": {"mean": top-1 averaged over the draws, "draws": [...]}}."""
    import numpy as np

    from classifier.ml.embedding_head import EmbeddingClassifier

    vectors, labels, validation, n_classes = _arrays(vectors, labels, validation)
    pool = [np.flatnonzero(~validation & (labels == c)) for c in range(n_classes)]
    val = np.flatnonzero(validation)
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, Any]] = {}
    for k in shots:
        scores = []
        for _ in range(draws):
            pick = np.concatenate([rng.choice(rows, size=min(k, len(rows)), replace=False) for rows in pool])
            clf = EmbeddingClassifier(recipe)
            # No held-out faces: with k faces a person every one trains, as in a fresh install.
            clf.train(
                vectors[pick],
                labels[pick],
                class_idol_ids=list(range(n_classes)),
                class_names=[str(c) for c in range(n_classes)],
                validation=np.zeros(len(pick), dtype=bool),
            )
            best = clf.predict_vectors(vectors[val]).probabilities.argmax(axis=1)
            scores.append(round(float(np.mean(best == labels[val])), 4))
        out[str(k)] = {"mean": round(float(np.mean(scores)), 4), "draws": scores}
    return out


def open_set(
    vectors: Any,
    labels: Any,
    validation: Any,
    names: list[str],
    *,
    group_size: int = STRANGERS_PER_GROUP,
    recipe: Any = None,
    seed: int = 0,
) -> dict[str, Any]:
    """People sorted by name, cut into disjoint groups of ``group_size``; for each group a head
    is trained on the others' training-side faces (its threshold and temperature chosen on a
    held-out share of them, as the product holds out its validation side) and the group are
    strangers. On the validation faces: ``strangers_accepted``, the strangers' faces not called
    unknown; ``known_accepted_right``, the known people's faces accepted and named right.
    Returns the figures per group and their means."""
    import numpy as np

    from classifier.ml.dataset import VALIDATION_FRACTION
    from classifier.ml.embedding_head import EmbeddingClassifier

    vectors, labels, validation, n_classes = _arrays(vectors, labels, validation)
    if len(names) != n_classes:
        raise ValueError(f"{len(names)} names for {n_classes} classes")
    if n_classes - group_size < 2:
        raise ValueError(f"{n_classes} people: too few to leave {group_size} out and keep two known")
    order = sorted(range(n_classes), key=lambda c: names[c])
    # Held out of each training for the threshold: the same share as the product's split.
    inner = np.random.default_rng(seed).random(len(labels)) < VALIDATION_FRACTION
    groups = []
    for start in range(0, n_classes - group_size + 1, group_size):
        strangers = order[start : start + group_size]
        known = [c for c in range(n_classes) if c not in strangers]
        index = np.full(n_classes, -1, dtype=np.int64)
        index[known] = np.arange(len(known))
        is_known = np.isin(labels, known)
        rows = ~validation & is_known
        clf = EmbeddingClassifier(recipe)
        clf.train(
            vectors[rows],
            index[labels[rows]],
            class_idol_ids=list(range(len(known))),
            class_names=[names[c] for c in known],
            validation=inner[rows],
        )
        prediction = clf.predict_vectors(vectors[validation])
        accepted = ~prediction.unknown
        right = prediction.probabilities.argmax(axis=1) == index[labels[validation]]
        known_val = is_known[validation]
        groups.append(
            {
                "strangers": [names[c] for c in strangers],
                "strangers_accepted": round(float(np.mean(accepted[~known_val])), 4),
                "known_accepted_right": round(float(np.mean((accepted & right)[known_val])), 4),
                "max_distance": clf.max_distance,
            }
        )
    return {
        "strangers_accepted": round(float(np.mean([g["strangers_accepted"] for g in groups])), 4),
        "known_accepted_right": round(float(np.mean([g["known_accepted_right"] for g in groups])), 4),
        "groups": groups,
    }


def embed_all(face_ids: list[int]) -> tuple[float, int]:
    """Every face through ``faces.tasks.embed_faces`` in the worker's batches; (faces/s, failed).
    The model is loaded before the clock starts, as a worker has it after its first task."""
    from faces import services as face_services
    from faces import tasks as face_tasks
    from faces.embedders import get_embedder
    from faces.models import FaceEmbedding

    embedder = get_embedder()
    started = time.perf_counter()
    for start in range(0, len(face_ids), face_services.EMBED_BATCH):
        face_tasks.embed_faces(face_ids[start : start + face_services.EMBED_BATCH])
    elapsed = time.perf_counter() - started
    rows = FaceEmbedding.objects.of(embedder=embedder.name, model_hash=embedder.model_hash())
    return len(face_ids) / elapsed, rows.failed().count()


def bare_embed_rate(face_ids: list[int]) -> float:
    """dlib's descriptor alone on the same aligned chips, in the worker's batches (faces/s):
    what the product adds (reading crops, aligning, storing) is the difference."""
    import dlib

    from faces import services as face_services
    from faces.embedders import get_embedder
    from faces.models import Face
    from faces.services.embeddings import load_face_image

    embedder = get_embedder()
    chips = [embedder.chip(load_face_image(face)) for face in Face.objects.filter(pk__in=face_ids).order_by("pk")]
    net = dlib.face_recognition_model_v1(str(embedder.model_path()))
    net.compute_face_descriptor(chips[:1])  # warm-up
    batch = face_services.EMBED_BATCH
    started = time.perf_counter()
    for start in range(0, len(chips), batch):
        net.compute_face_descriptor(chips[start : start + batch])
    return len(chips) / (time.perf_counter() - started)


def main() -> None:
    args = parse_args()
    if not args.faces.is_dir():
        sys.exit(f"{args.faces}: not a folder (give --faces DIR, one sub-folder per person)")
    if args.cnn_epochs is not None and not 1 <= args.cnn_epochs <= 1000:
        sys.exit("--cnn-epochs must be between 1 and 1000")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="idolsite-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    setup_django(workdir)

    import numpy as np
    from django.conf import settings
    from django.core.management import call_command

    from classifier import services, tasks
    from classifier.dataset import embedding_set, labeled_set, load_pixels
    from classifier.ml.backend import keras_module
    from classifier.ml.embedding_head import HeadRecipe
    from classifier.ml.precision import precision_policy
    from classifier.models import ModelVersion, Recognizer, TrainingRun
    from faces.models import Face

    print(f"work folder: {workdir}; load average at the start: {os.getloadavg()}")
    call_command("migrate", verbosity=0)
    started = time.monotonic()
    call_command("import_faces", str(args.faces), verbosity=0)
    print(f"import: {time.monotonic() - started:.0f} s")
    keras = keras_module()
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, precision {precision_policy()}")

    # 1. Embeddings, as the default worker computes them, and the bare library call beside it.
    face_ids = list(Face.objects.order_by("id").values_list("id", flat=True))
    embed_rate, failed = embed_all(face_ids)
    bare_rate = bare_embed_rate(face_ids[: args.bare_faces])
    print(f"\nembeddings: {embed_rate:.1f} faces/s through faces.tasks.embed_faces ({len(face_ids)} faces", end="")
    print(f", {failed} failed); bare dlib descriptor on the chips: {bare_rate:.1f} faces/s")

    # 2. The embedding recognizer, through the product code path.
    def train(recognizer: str, **options: Any) -> TrainingRun:
        run = services.training_request(reason="bench", force=True, recognizer=recognizer, **options)
        # A run queued by the import's labels is returned instead of a new one: give it ours.
        TrainingRun.objects.filter(pk=run.pk).update(options={**run.options, **_run_options(options)})
        tasks.train(run.pk)
        run = TrainingRun.objects.get(pk=run.pk)
        if run.status != TrainingRun.Status.SUCCEEDED or not run.metrics:
            sys.exit(f"{recognizer} training failed: {run.status} {run.error} {run.note}")
        return run

    metrics = train(Recognizer.EMBEDDING).metrics
    print(f"\nembedding recognizer ({metrics['n_validation']} validation faces):")
    print(f"  top-1 {metrics['top1']:.4f}  top-5 {metrics['top5']:.4f}  training {metrics['train_seconds']:.2f} s")
    if "calibration" in metrics:
        print(f"  calibration: ECE {metrics['calibration']['ece']:.4f} (0 is perfect)")
    held = metrics.get("open_set") or {}
    print(f"  held-out threshold: {held.get('max_distance')} (measured: {held.get('max_distance_measured')}),", end="")
    print(f" temperature {held.get('temperature')}, each face as a stranger accepted {held.get('strangers_accepted')}")
    print("  lowest recall per person (support):")
    for row in sorted(metrics["per_class"], key=lambda r: r["recall"])[:5]:
        print(f"    {row['name']:<24} {row['recall']:.3f} ({row['support']})")

    # 3. Few-shot and open set: the head itself on the same faces and split.
    data, vectors, _ = embedding_set()
    recipe = HeadRecipe(false_accept=settings.IDOLSITE_EMBEDDING_FALSE_ACCEPT)
    shots = few_shot(vectors, data.labels, data.validation, recipe=recipe)
    print(f"\nfew-shot ({FEWSHOT_DRAWS} draws each), top-1 on {sum(data.validation)} validation faces:")
    for k, row in shots.items():
        print(f"  {k:>2} a person: {row['mean']:.4f}  draws {row['draws']}")
    opened = open_set(vectors, data.labels, data.validation, data.class_names, recipe=recipe)
    print(f"open set ({STRANGERS_PER_GROUP} strangers, the others known; false accept {recipe.false_accept}):")
    for group in opened["groups"]:
        print(f"  strangers {', '.join(group['strangers'])}: accepted {group['strangers_accepted']:.4f},", end="")
        print(f" known accepted and right {group['known_accepted_right']:.4f}, max distance {group['max_distance']}")
    print(f"  mean: strangers accepted {opened['strangers_accepted']:.4f},", end="")
    print(f" known accepted and right {opened['known_accepted_right']:.4f}")

    # 4. Eigenfaces on the network's training set (the same faces and split): grey 48x48, PCA
    # 150 whitened, SVC C=10.
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    pixel_data = labeled_set()
    train_idx = pixel_data.indices(validation=False)
    val_idx = pixel_data.indices(validation=True)
    y = np.asarray(pixel_data.labels)
    px48 = load_pixels(pixel_data.crops, 48).astype("float32")
    grey = (px48 @ np.asarray([0.299, 0.587, 0.114], dtype="float32")).reshape(len(px48), -1) / 255.0
    t = time.monotonic()
    components = min(150, len(train_idx) - 1, grey.shape[1])
    eigen = make_pipeline(PCA(n_components=components, whiten=True, random_state=0), SVC(C=10, class_weight="balanced"))
    eigen.fit(grey[train_idx], y[train_idx])
    eigen_top1 = float(np.mean(eigen.predict(grey[val_idx]) == y[val_idx]))
    print(f"\neigenfaces (PCA 150 -> SVC): top-1 {eigen_top1:.4f}, training {time.monotonic() - t:.1f} s")

    # 5. The network from scratch, through the product code path.
    cnn: dict[str, Any] = {}
    if not args.skip_cnn:
        run = train(Recognizer.NETWORK, epochs=args.cnn_epochs, scratch=True)
        cnn = network_figures(run, ModelVersion.objects.filter(run=run).first(), pixel_data)

    # 6. The talk's network, same split (only on request: it is no product path).
    seed_top1 = seed_network(args.seed_epochs, pixel_data) if args.seed_epochs else None

    print(f"\nload average at the end: {os.getloadavg()}")
    result: dict[str, Any] = {
        "train": {
            "top1": metrics["top1"],
            "cnn_top1": cnn.get("top1"),
            "eigenfaces_top1": round(eigen_top1, 4),
            "fewshot": {k: row["mean"] for k, row in shots.items()},
            "open_set": {k: opened[k] for k in ("strangers_accepted", "known_accepted_right")},
            "head_train_s": metrics["train_seconds"],
            "embed_faces_per_s": round(embed_rate, 1),
            "bare_embed_faces_per_s": round(bare_rate, 1),
            "top5": metrics["top5"],
            "cnn_train_s": cnn.get("train_s"),
            "cnn_faces_per_s": cnn.get("faces_per_s"),
        }
    }
    if seed_top1 is not None:
        result["train"]["seed_net_top1"] = round(seed_top1, 4)
    print(json.dumps(result))


def _run_options(options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"force": True}
    if options.get("scratch"):
        out["scratch"] = True
    if options.get("epochs") is not None:
        out["epochs"] = options["epochs"]
    return out


def network_figures(run: Any, version: Any, data: Any) -> dict[str, Any]:
    """Print the network run's figures and its inference speed; return the JSON's."""
    from django.core.files.storage import default_storage
    from PIL import Image

    from classifier.dataset import load_pixels
    from classifier.recognition import predict_crops
    from classifier.services.versions import load_classifier

    metrics = run.metrics
    clf = load_classifier(version)
    print(f"\nnetwork from scratch ({clf.recipe.epochs} epochs, {clf.input_size}x{clf.input_size}):")
    print(f"  top-1 {metrics['top1']:.4f}  top-5 {metrics['top5']:.4f}  training {metrics['train_seconds']:.0f} s")
    if "calibration" in metrics:
        print(f"  calibration: ECE {metrics['calibration']['ece']:.4f} (0 is perfect)")
    both = metrics.get("recognizers")
    if both:
        print(f"  the run's own comparison on {both['faces']} faces: network {both['network_top1']:.4f},", end="")
        print(f" embedding {both['embedding_top1']:.4f}: {both.get('chosen')}")
    for pair in metrics["confused_pairs"][:5]:
        print(f"  confused: {pair['a']['name']} <-> {pair['b']['name']}: {pair['count']}")
    # Inference: faces per second in batches of 256, and one face (resize + predict) in ms.
    pixels = load_pixels(data.crops, clf.input_size)
    clf.predict(pixels[:256])  # warm-up
    rates = []
    for _ in range(3):
        t = time.perf_counter()
        clf.predict(pixels, batch_size=256)
        rates.append(len(pixels) / (time.perf_counter() - t))
    with default_storage.open(data.crops[0], "rb") as handle:
        one = Image.open(handle).convert("RGB")
    predict_crops([one], classifier=clf)  # warm-up
    singles = []
    for _ in range(30):
        t = time.perf_counter()
        predict_crops([one], classifier=clf)
        singles.append((time.perf_counter() - t) * 1000)
    one_ms = statistics.median(singles)
    print(f"  inference: {max(rates):.0f} faces/s in batches of 256; {one_ms:.1f} ms for one face (median of 30)")
    return {"top1": metrics["top1"], "train_s": metrics["train_seconds"], "faces_per_s": round(max(rates))}


def seed_network(epochs: int, data: Any) -> float:
    import numpy as np

    from classifier.dataset import load_pixels
    from classifier.ml.fitting import fit, predict
    from classifier.ml.network import build_seed_network
    from classifier.ml.precision import precision_policy
    from classifier.ml.recipe import seed_recipe

    train_idx, val_idx = data.indices(validation=False), data.indices(validation=True)
    y = np.asarray(data.labels)
    recipe = seed_recipe(epochs)
    px96 = load_pixels(data.crops, recipe.input_size)
    model = build_seed_network(data.n_classes, recipe, policy=precision_policy())  # as the product's
    t = time.monotonic()
    history = fit(model, px96[train_idx], y[train_idx], px96[val_idx], y[val_idx], recipe)
    seed_s = time.monotonic() - t
    top1 = float(np.mean(predict(model, px96[val_idx]).argmax(axis=1) == y[val_idx]))
    best = max(v for v in history["val_accuracy"] if v is not None)
    print(f"\nthe talk's network ({epochs} epochs, 96x96): top-1 {top1:.4f}", end="")
    print(f" (best validation {best:.4f}), training {seed_s:.0f} s")
    return top1


if __name__ == "__main__":
    main()
