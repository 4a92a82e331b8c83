"""Benchmark of the classifier: fresh database, import, train on the CPU, evaluate, compare.

    .venv/bin/python bench/train_eval.py [--faces DIR] [--epochs N] [--seed-epochs N]

Imports ``../shared/data/faces`` (or ``--faces DIR``: one folder per person) into a fresh
SQLite database with its own media and model folders, trains through the product code path
(``services.training_request``, then ``classifier.tasks.train`` as the worker runs it), then in
the same run and on the same validation split trains the talk's network and an eigenfaces
baseline (PCA -> SVC). Prints validation top-1/top-5, recall per person, training time,
inference speed; the last line is one JSON object:

    {"train": {"top1": a, "top5": b, "train_s": t, "faces_per_s": r, "seed_net_top1": s, "eigenfaces_top1": e}}
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

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FACES = ROOT.parent / "shared" / "data" / "faces"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="folder of face crops, one folder a person")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the product model (default: its recipe)")
    parser.add_argument("--seed-epochs", type=int, default=40, help="epochs of the talk's network (0: skip it)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the database and models here")
    return parser.parse_args()


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


def main() -> None:
    args = parse_args()
    if not args.faces.is_dir():
        sys.exit(f"{args.faces}: not a folder (give --faces DIR, one sub-folder per person)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="idolsite-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    setup_django(workdir)

    import numpy as np
    from django.core.management import call_command

    from classifier import services, tasks
    from classifier.dataset import labeled_set, load_pixels
    from classifier.ml.backend import keras_module
    from classifier.ml.fitting import fit, predict
    from classifier.ml.network import build_seed_network
    from classifier.ml.precision import precision_policy
    from classifier.ml.recipe import seed_recipe
    from classifier.models import TrainingRun
    from classifier.recognition import predict_crops
    from classifier.services.versions import load_classifier

    print(f"work folder: {workdir}")
    call_command("migrate", verbosity=0)
    started = time.monotonic()
    call_command("import_faces", str(args.faces), verbosity=0)
    print(f"import: {time.monotonic() - started:.0f} s")

    data = labeled_set()
    train_idx = data.indices(validation=False)
    val_idx = data.indices(validation=True)
    print(f"{len(data)} faces, {data.n_classes} classes: {len(train_idx)} train, {len(val_idx)} validation")

    # 1. The product model, through the product code path.
    keras = keras_module()
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, precision {precision_policy()}")
    run = services.training_request(reason="bench", epochs=args.epochs, force=True)
    tasks.train(run.pk)
    run = TrainingRun.objects.get(pk=run.pk)
    if run.status != TrainingRun.Status.SUCCEEDED:
        sys.exit(f"training failed: {run.status} {run.error}")
    metrics = run.metrics
    clf = load_classifier()
    print(f"\nproduct model ({clf.recipe.epochs} epochs, {clf.input_size}x{clf.input_size}):")
    print(f"  top-1 {metrics['top1']:.4f}  top-5 {metrics['top5']:.4f}  training {metrics['train_seconds']:.0f} s")
    print(f"  calibration: ECE {metrics['calibration']['ece']:.4f} (0 is perfect)")
    print("  recall per person (support):")
    for row in sorted(metrics["per_class"], key=lambda r: r["recall"]):
        print(f"    {row['name']:<24} {row['recall']:.3f} ({row['support']})")
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
    faces_per_s = max(rates)
    from django.core.files.storage import default_storage
    from PIL import Image

    with default_storage.open(data.crops[0], "rb") as handle:
        one = Image.open(handle).convert("RGB")
    predict_crops([one], classifier=clf)  # warm-up
    singles = []
    for _ in range(30):
        t = time.perf_counter()
        predict_crops([one], classifier=clf)
        singles.append((time.perf_counter() - t) * 1000)
    one_ms = statistics.median(singles)
    print(f"  inference: {faces_per_s:.0f} faces/s in batches of 256; {one_ms:.1f} ms for one face (median of 30)")

    # 2. The talk's network, same split.
    y = np.asarray(data.labels)
    seed_top1 = None
    if args.seed_epochs:
        recipe = seed_recipe(args.seed_epochs)
        px96 = load_pixels(data.crops, recipe.input_size)
        model = build_seed_network(data.n_classes, recipe, policy=precision_policy())  # as the product's
        t = time.monotonic()
        history = fit(model, px96[train_idx], y[train_idx], px96[val_idx], y[val_idx], recipe)
        seed_s = time.monotonic() - t
        seed_top1 = float(np.mean(predict(model, px96[val_idx]).argmax(axis=1) == y[val_idx]))
        best = max(v for v in history["val_accuracy"] if v is not None)
        print(f"\nthe talk's network ({args.seed_epochs} epochs, 96x96): top-1 {seed_top1:.4f}", end="")
        print(f" (best validation {best:.4f}), training {seed_s:.0f} s")

    # 3. Eigenfaces: grey 48x48, PCA 150 whitened, SVC C=10.
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    px48 = load_pixels(data.crops, 48).astype("float32")
    grey = (px48 @ np.asarray([0.299, 0.587, 0.114], dtype="float32")).reshape(len(px48), -1) / 255.0
    t = time.monotonic()
    components = min(150, len(train_idx) - 1, grey.shape[1])
    eigen = make_pipeline(PCA(n_components=components, whiten=True, random_state=0), SVC(C=10, class_weight="balanced"))
    eigen.fit(grey[train_idx], y[train_idx])
    eigen_top1 = float(np.mean(eigen.predict(grey[val_idx]) == y[val_idx]))
    print(f"eigenfaces (PCA 150 -> SVC): top-1 {eigen_top1:.4f}, training {time.monotonic() - t:.1f} s")

    print(f"one-face latency: {one_ms:.1f} ms; load average at the end: {os.getloadavg()}")
    result = {
        "train": {
            "top1": metrics["top1"],
            "top5": metrics["top5"],
            "train_s": metrics["train_seconds"],
            "faces_per_s": round(faces_per_s),
            "seed_net_top1": None if seed_top1 is None else round(seed_top1, 4),
            "eigenfaces_top1": round(eigen_top1, 4),
        }
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
