"""Benchmark the face detectors: accuracy on annotated photos and the pipeline's cost.

    .venv/bin/python bench/detect.py [--photos DIR] [--backends mtcnn,haar,yunet] [--repeat 3]

DIR holds the photos and a ``boxes.json`` mapping file name -> true boxes ``[x, y, w, h]``
(``[]``: no face, so every detection is a false positive; ``null``: not annotated, only timed
and counted). Default: ``../shared/data/photos``.

For each backend, as configured by the settings (IDOLSITE_DETECT_ANGLES, _MAX_SIDE,
_MIN_FACE_SIZE; ``--angles`` overrides the angles):
- found / recall / precision at IoU >= 0.5 (each true box matched at most once) over the
  annotated photos, false positives over the annotated photos and the no-face ones;
- ms per photo for the whole production pipeline, ``faces.detection.analyze_bytes`` (decode,
  downscale, detect with the rotation search, map back, NMS, align, crop, JPEG), median and
  p95 over the photos (each photo's time is its median over ``--repeat`` runs);
- in the same run, interleaved, the bare library call (``Detector.bare``: one call, the
  library's own output) on the array the pipeline gives the library (decoded and downscaled
  beforehand, untimed); ``overhead`` = total pipeline time / total bare time.

The last line printed is one JSON object: {"detect": {"<backend>": {...}, ...}}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idolsite.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    yunet = SHARED / "models" / "face_detection_yunet_2026may.onnx"
    if yunet.is_file():
        os.environ.setdefault("IDOLSITE_YUNET_MODEL", str(yunet))
    import django

    django.setup()


def match(found: list[list[int]], truth: list[list[int]]) -> int:
    """True boxes matched one-to-one by detections at IoU >= 0.5, best overlaps first."""
    from faces.detection import iou

    pairs = sorted(((iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)), reverse=True)
    used_f: set[int] = set()
    used_t: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < 0.5:
            break
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
    return len(used_t)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def bench_backend(name: str, photos: dict[str, bytes], boxes: dict, repeat: int, angles: list[float] | None) -> dict:
    import numpy as np
    from django.conf import settings

    from faces.detection import analyze_bytes, downscale, search_angles
    from faces.detectors import get_detector
    from faces.images import decode_image

    detector = get_detector(name)
    used_angles = angles if angles is not None else search_angles(name)
    first = next(iter(photos.values()))
    analyze_bytes(first, detector=name, angles=angles)  # warm up: graphs, caches
    inputs = {}
    for file, data in photos.items():
        small, _ = downscale(np.asarray(decode_image(data).image), settings.IDOLSITE_DETECT_MAX_SIDE)
        inputs[file] = small
        detector.bare(small)

    found = boxes_total = false_positives = detections = 0
    unannotated: dict[str, int] = {}
    pipeline_ms: dict[str, float] = {}
    bare_ms: dict[str, float] = {}
    rows = []
    for file, data in photos.items():
        runs, bare_runs = [], []
        analysis = None
        for _ in range(repeat):
            started = time.perf_counter()
            analysis = analyze_bytes(data, detector=name, angles=angles)
            runs.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            detector.bare(inputs[file])
            bare_runs.append((time.perf_counter() - started) * 1000)
        pipeline_ms[file] = statistics.median(runs)
        bare_ms[file] = statistics.median(bare_runs)
        got = [list(face.box) for face in analysis.faces]
        truth = boxes[file]
        if truth is None:
            unannotated[file] = len(got)
            matched = fp = None
        else:
            matched = match(got, truth)
            fp = len(got) - matched
            found += matched
            boxes_total += len(truth)
            false_positives += fp
            detections += len(got)
        rows.append(
            (file, len(truth) if truth is not None else "-", len(got), matched, fp, pipeline_ms[file], bare_ms[file])
        )

    print(
        f"\n{name}  (angles {used_angles}, max side {settings.IDOLSITE_DETECT_MAX_SIDE}, "
        f"min face {settings.IDOLSITE_MIN_FACE_SIZE} px, {repeat} runs per photo)"
    )
    print(f"  {'photo':<18} {'true':>4} {'det':>4} {'found':>5} {'fp':>3} {'pipeline ms':>11} {'bare ms':>8}")
    for file, n_true, n_got, matched, fp, p_ms, b_ms in rows:
        print(
            f"  {file:<18} {n_true!s:>4} {n_got:>4} {matched if matched is not None else '-'!s:>5} "
            f"{fp if fp is not None else '-'!s:>3} {p_ms:>11.1f} {b_ms:>8.1f}"
        )
    times = list(pipeline_ms.values())
    result = {
        "found": found,
        "boxes": boxes_total,
        "recall": round(found / boxes_total, 4) if boxes_total else None,
        "precision": round(found / detections, 4) if detections else None,
        "false_positives": false_positives,
        "ms_p50": round(statistics.median(times), 1),
        "ms_p95": round(percentile(times, 0.95), 1),
        "bare_ms_p50": round(statistics.median(bare_ms.values()), 1),
        "overhead": round(sum(pipeline_ms.values()) / sum(bare_ms.values()), 3),
        "angles": used_angles,
        "unannotated_faces": unannotated,
    }
    print(
        f"  found {found}/{boxes_total}, false positives {false_positives}, precision {result['precision']}, "
        f"pipeline p50 {result['ms_p50']} ms, p95 {result['ms_p95']} ms, bare p50 {result['bare_ms_p50']} ms, "
        f"overhead {result['overhead']}x"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=SHARED / "data" / "photos")
    parser.add_argument("--backends", default="mtcnn,haar,yunet")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per photo (default 3)")
    parser.add_argument("--angles", help="rotation search angles for every backend, e.g. -45,0,45")
    args = parser.parse_args()

    setup_django()
    from faces.detectors import DETECTORS, detector_class

    boxes_file = args.photos / "boxes.json"
    if not boxes_file.is_file():
        sys.exit(f"{boxes_file} is missing: --photos must name a folder with boxes.json")
    boxes = json.loads(boxes_file.read_text())
    photos = {name: (args.photos / name).read_bytes() for name in boxes}
    angles = [float(a) for a in args.angles.split(",")] if args.angles else None
    print(f"{len(photos)} photos from {args.photos}; {os.cpu_count()} CPU(s)")

    results = {}
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if name not in DETECTORS:
            sys.exit(f"unknown backend {name!r} (choose from {', '.join(DETECTORS)})")
        problems = detector_class(name).configuration_errors()
        if problems:
            print(f"\n{name}: skipped: {problems[0]}")
            continue
        results[name] = bench_backend(name, photos, boxes, args.repeat, angles)
    print(json.dumps({"detect": results}))


if __name__ == "__main__":
    main()
