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

``--tilt`` measures tilted faces instead: each annotated photo (and each no-face one) turned by
-50, -35, -20, 0, 20, 35 and 50 degrees (``faces.detection.rotate``: the canvas grows so nothing
is cut), its true boxes turned with it (the four corners through the same affine transform, then
their axis-aligned bounding box), run once through ``faces.detection.analyze_image`` for each
configuration of ``TILT_CONFIGS`` whose backend can run. A detection matches a true box (one to
one, best overlaps first) when IoU >= 0.3 with the turned box's bounding box or its centre lies
inside the turned box (the quadrilateral). Printed: recall per angle, false positives (every
turned photo, the no-face ones included; and those on the upright photos alone), ms per photo.
``--quick``: three photos and -35, 0, 35 degrees, for a smoke run. The last line:
{"detect_tilt": {"<configuration>": {"recall": {"-50": r, ...}, "false_positives": n, ...}}}.
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


TILT_ANGLES = (-50.0, -35.0, -20.0, 0.0, 20.0, 35.0, 50.0)
QUICK_TILT_ANGLES = (-35.0, 0.0, 35.0)
TILT_MATCH = "IoU >= 0.3 with the turned box's bounding box, or the detection's centre inside the turned box"
# name -> (backend, rotation search angles, settings to override); haar's angles are its default.
TILT_CONFIGS: dict[str, tuple[str, list[float] | None, dict]] = {
    "mtcnn": ("mtcnn", [0.0], {"IDOLSITE_DETECT_FOLLOW_TILT": False}),
    "mtcnn_follow": ("mtcnn", [0.0], {"IDOLSITE_DETECT_FOLLOW_TILT": True}),
    "mtcnn_rot": ("mtcnn", [-30.0, 0.0, 30.0], {"IDOLSITE_DETECT_FOLLOW_TILT": False}),
    "mtcnn_rot5": ("mtcnn", [-45.0, -20.0, 0.0, 20.0, 45.0], {"IDOLSITE_DETECT_FOLLOW_TILT": False}),
    "haar": ("haar", [-30.0, 0.0, 30.0], {"IDOLSITE_DETECT_FOLLOW_TILT": False}),
    "yunet": ("yunet", [0.0], {"IDOLSITE_DETECT_FOLLOW_TILT": False}),
    "yunet_follow": ("yunet", [0.0], {"IDOLSITE_DETECT_FOLLOW_TILT": True}),
    "yunet_rot": ("yunet", [-30.0, 0.0, 30.0], {"IDOLSITE_DETECT_FOLLOW_TILT": False}),
}
QUICK_TILT_CONFIGS = ("mtcnn", "mtcnn_follow", "mtcnn_rot")


def rotate_box(box: list[float], forward) -> tuple[list[float], list[tuple[float, float]]]:
    """A ``[x, y, w, h]`` box through the 2x3 affine ``forward``: the axis-aligned bounding box of
    its four turned corners, and the corners themselves (in order, a convex quadrilateral)."""
    x, y, w, h = box
    corners = []
    for px, py in ((x, y), (x + w, y), (x + w, y + h), (x, y + h)):
        corners.append(
            (
                float(forward[0][0] * px + forward[0][1] * py + forward[0][2]),
                float(forward[1][0] * px + forward[1][1] * py + forward[1][2]),
            )
        )
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)], corners


def inside(point: tuple[float, float], polygon: list[tuple[float, float]]) -> bool:
    """Whether a point lies inside a convex polygon (either winding), edges included."""
    signs = set()
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        cross = (x2 - x1) * (point[1] - y1) - (y2 - y1) * (point[0] - x1)
        if cross:
            signs.add(cross > 0)
    return len(signs) <= 1


def tilt_match(found: list[list[int]], truth: list[tuple[list[float], list[tuple[float, float]]]]) -> int:
    """True boxes matched one to one (see TILT_MATCH), the best overlaps first."""
    from faces.detection import iou

    pairs = []
    for i, f in enumerate(found):
        centre = (f[0] + f[2] / 2, f[1] + f[3] / 2)
        for j, (aabb, corners) in enumerate(truth):
            overlap = iou(f, aabb)
            if overlap >= 0.3 or inside(centre, corners):
                pairs.append((overlap, i, j))
    used_f: set[int] = set()
    used_t: set[int] = set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
    return len(used_t)


def tilted_photos(photos: dict[str, bytes], boxes: dict, angles: tuple[float, ...]) -> list[dict]:
    """Each photo with known boxes turned by each angle, with its turned boxes."""
    import cv2
    import numpy as np
    from PIL import Image

    from faces.detection import rotate
    from faces.images import decode_image

    cases = []
    for file, data in photos.items():
        if boxes[file] is None:
            continue
        array = np.asarray(decode_image(data).image)
        for angle in angles:
            turned, back = rotate(array, angle)
            forward = cv2.invertAffineTransform(back) if back is not None else np.array([[1, 0, 0], [0, 1, 0]], float)
            truth = [rotate_box(box, forward) for box in boxes[file]]
            cases.append({"file": file, "angle": angle, "image": Image.fromarray(turned), "truth": truth})
    return cases


def bench_tilt(name: str, cases: list[dict], angles: tuple[float, ...]) -> dict:
    from django.conf import settings

    from faces.detection import analyze_image

    backend, search, overrides = TILT_CONFIGS[name]
    saved = {key: getattr(settings, key) for key in overrides}
    for key, value in overrides.items():
        setattr(settings, key, value)
    try:
        used = search
        analyze_image(cases[0]["image"], detector=backend, angles=search)  # warm up: graphs, caches
        matched = {a: 0 for a in angles}
        total = {a: 0 for a in angles}
        fp = {a: 0 for a in angles}
        ms: dict[float, list[float]] = {a: [] for a in angles}
        passes: dict[float, list[int]] = {a: [] for a in angles}
        for case in cases:
            started = time.perf_counter()
            analysis = analyze_image(case["image"], detector=backend, angles=search)
            ms[case["angle"]].append((time.perf_counter() - started) * 1000)
            passes[case["angle"]].append(len(analysis.angles))
            got = [list(face.box) for face in analysis.faces]
            hit = tilt_match(got, case["truth"])
            matched[case["angle"]] += hit
            total[case["angle"]] += len(case["truth"])
            fp[case["angle"]] += len(got) - hit
    finally:
        for key, value in saved.items():
            setattr(settings, key, value)
    every = [t for times in ms.values() for t in times]
    every_pass = [n for counts in passes.values() for n in counts]
    result = {
        "recall": {f"{a:g}": round(matched[a] / total[a], 4) if total[a] else None for a in angles},
        "found": sum(matched.values()),
        "boxes": sum(total.values()),
        "false_positives": sum(fp.values()),
        "false_positives_upright": fp.get(0.0),
        "ms_per_photo": round(statistics.mean(every), 1),
        "ms_upright": round(statistics.mean(ms[0.0]), 1) if ms.get(0.0) else None,
        "passes_per_photo": round(statistics.mean(every_pass), 2),
        "passes_upright": round(statistics.mean(passes[0.0]), 2) if passes.get(0.0) else None,
        "angles": used,
        "settings": overrides,
    }
    print(f"\n{name}  (backend {backend}, search angles {used})")
    print(f"  {'photo angle':>11} {'found':>8} {'recall':>7} {'fp':>3} {'ms/photo':>9} {'passes':>6}")
    for a in angles:
        print(
            f"  {a:>11g} {matched[a]:>3}/{total[a]:<4} {result['recall'][f'{a:g}']!s:>7} {fp[a]:>3} "
            f"{statistics.mean(ms[a]):>9.1f} {statistics.mean(passes[a]):>6.2f}"
        )
    print(
        f"  found {result['found']}/{result['boxes']}, false positives {result['false_positives']} "
        f"(upright photos {result['false_positives_upright']}), {result['ms_per_photo']} ms a photo "
        f"({result['ms_upright']} upright), {result['passes_per_photo']} detector passes a photo"
    )
    return result


def main_tilt(args: argparse.Namespace, photos: dict[str, bytes], boxes: dict) -> None:
    from faces.detectors import detector_class

    angles = QUICK_TILT_ANGLES if args.quick else TILT_ANGLES
    if args.quick:
        keep = [f for f in boxes if boxes[f]][:3] + [f for f in boxes if boxes[f] == []]
        photos = {f: photos[f] for f in keep}
    names = [n.strip() for n in args.configs.split(",")] if args.configs else None
    names = names or (list(QUICK_TILT_CONFIGS) if args.quick else list(TILT_CONFIGS))
    cases = tilted_photos(photos, boxes, angles)
    print(f"tilt: {len(cases)} turned photos ({', '.join(f'{a:g}' for a in angles)} degrees); match: {TILT_MATCH}")
    results: dict = {}
    for name in names:
        if name not in TILT_CONFIGS:
            sys.exit(f"unknown configuration {name!r} (choose from {', '.join(TILT_CONFIGS)})")
        problems = detector_class(TILT_CONFIGS[name][0]).configuration_errors()
        if problems:
            print(f"\n{name}: skipped: {problems[0]}")
            continue
        results[name] = bench_tilt(name, cases, angles)
    print(json.dumps({"detect_tilt": results}))


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
    parser.add_argument("--tilt", action="store_true", help="recall on the photos turned by +-20, +-35, +-50 degrees")
    parser.add_argument("--quick", action="store_true", help="with --tilt: three photos, -35/0/35 degrees")
    parser.add_argument(
        "--configs", help=f"with --tilt: configurations to run (default all: {', '.join(TILT_CONFIGS)})"
    )
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
    if args.tilt:
        main_tilt(args, photos, boxes)
        return

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
