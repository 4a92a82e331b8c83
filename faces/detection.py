"""The detection pipeline: decoded photo -> faces with boxes, landmarks, angle and aligned crops.

Pure computation, no database: the task (``faces.tasks.detect_photo``), the API
(``POST /api/detect/``) and the benchmark (``bench/detect.py``) all call :func:`analyze_bytes`
or :func:`analyze_image`, so they measure and return the same thing.

1. The photo is scaled down to ``IDOLSITE_DETECT_MAX_SIDE`` for detection (crops come from the
   full photo later).
2. Rotation search: the backend runs on a rotated copy for each angle (the canvas grows so no
   corner is cut off); each face's box centre and landmarks are mapped back to photo pixels.
   Tilt follow-up (``IDOLSITE_DETECT_FOLLOW_TILT``): when faces found so far are rolled by at
   least ``IDOLSITE_DETECT_FOLLOW_TILT_MIN_ROLL`` degrees (their eyes say so) and no searched
   angle is near their roll, one more copy is turned by that roll: in a tilted photo the faces
   the detector missed are tilted like the ones it found, and upright photos pay nothing.
3. Non-maximum suppression over all angles keeps the best-scoring detection of each face.
4. Faces smaller than ``IDOLSITE_MIN_FACE_SIZE`` photo pixels (the box's longer side: mtcnn's
   boxes are narrower than tall) are skipped and counted.
5. Each face is levelled by its eyes (or by the angle it was found at when the backend gave
   no eyes), cut out square with a margin, resized to ``IDOLSITE_CROP_SIZE`` and encoded JPEG.

OpenCV and NumPy are imported inside the functions (see faces.detectors).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.translation import gettext

from faces.detectors import RawFace, detector_class, get_detector
from faces.images import decode_image

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

Box = tuple[int, int, int, int]

NMS_IOU = 0.4  # two detections overlapping more than this (any angles) are the same face


@dataclass(frozen=True)
class FoundFace:
    """One face in photo pixels: ``box`` lies inside the photo; ``angle`` (degrees,
    counter-clockwise) is the rotation that makes the face upright."""

    box: Box
    score: float
    landmarks: dict[str, list[float]]
    angle: float
    crop: bytes = b""

    def as_json(self) -> dict[str, Any]:
        return {"box": list(self.box), "score": self.score, "landmarks": self.landmarks, "angle": self.angle}


@dataclass
class Analysis:
    width: int
    height: int
    detector: str
    angles: list[float]
    scale: float
    min_face_size: int
    faces: list[FoundFace] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    ms: float = 0.0

    @property
    def info(self) -> dict[str, Any]:
        """What a photo records about its detection (``Photo.detection_info``)."""
        reasons = {"too_small": gettext("smaller than %(size)s px") % {"size": self.min_face_size}}
        return {
            "faces": len(self.faces),
            "skipped": dict(self.skipped),
            "skipped_why": {k: reasons.get(k, k) for k in self.skipped},
            "angles": self.angles,
            "scale": round(self.scale, 4),
            "min_face_size": self.min_face_size,
            "ms": round(self.ms, 1),
        }


def iou(a: Box | list[int] | tuple[float, ...], b: Box | list[int] | tuple[float, ...]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def search_angles(detector: str | None = None) -> list[float]:
    """The setting's angles, or the backend's own when the setting is empty; 0 first."""
    angles = settings.IDOLSITE_DETECT_ANGLES or list(detector_class(detector).default_angles)
    return sorted(dict.fromkeys(float(a) for a in angles), key=lambda a: (abs(a), a))


def analyze_bytes(data: bytes, *, max_bytes: int | None = None, **options: Any) -> Analysis:
    """Decode untrusted bytes (raises InvalidImage) and analyze them; ``ms`` covers both."""
    started = time.perf_counter()
    decoded = decode_image(data, max_bytes=max_bytes)
    analysis = analyze_image(decoded.image, **options)
    analysis.ms = (time.perf_counter() - started) * 1000.0
    return analysis


def analyze_image(
    image: Image.Image,
    *,
    detector: str | None = None,
    angles: list[float] | None = None,
    min_face_size: int | None = None,
    max_side: int | None = None,
    crops: bool = True,
    crop_size: int | None = None,
) -> Analysis:
    """Find, level and crop every face of an RGB image (see the module's docstring)."""
    import numpy as np

    started = time.perf_counter()
    backend = get_detector(detector)
    angles = search_angles(backend.name) if angles is None else angles
    min_face_size = min_face_size or settings.IDOLSITE_MIN_FACE_SIZE
    max_side = max_side or settings.IDOLSITE_DETECT_MAX_SIDE
    photo = np.asarray(image)
    height, width = photo.shape[:2]
    small, scale = downscale(photo, max_side)
    analysis = Analysis(
        width=width, height=height, detector=backend.name, angles=angles, scale=scale, min_face_size=min_face_size
    )

    found: list[tuple[FoundFace, float]] = []  # with the angle of the copy it was found on

    def search(angle: float) -> None:
        rotated, back = rotate(small, angle)
        for raw in backend.detect(rotated):
            face = to_photo(raw, back=back, scale=scale, angle=angle, width=width, height=height)
            if face is not None:
                found.append((face, angle))

    for angle in angles:
        search(angle)
    if settings.IDOLSITE_DETECT_FOLLOW_TILT:
        extra = follow_tilt_angles(
            [face.angle for face, _ in found], angles, min_roll=settings.IDOLSITE_DETECT_FOLLOW_TILT_MIN_ROLL
        )
        for angle in extra:
            search(angle)
        analysis.angles = [*angles, *extra]
    kept = suppress(found)
    for face in kept:
        if max(face.box[2], face.box[3]) < min_face_size:  # the longer side: boxes vary in shape
            analysis.skipped["too_small"] = analysis.skipped.get("too_small", 0) + 1
            continue
        if crops:
            face = FoundFace(
                box=face.box,
                score=face.score,
                landmarks=face.landmarks,
                angle=face.angle,
                crop=aligned_crop(photo, face, size=crop_size),
            )
        analysis.faces.append(face)
    analysis.faces.sort(key=lambda f: (f.box[0], f.box[1]))
    analysis.ms = (time.perf_counter() - started) * 1000.0
    return analysis


FOLLOW_TILT_NEAR = 12.0  # degrees: a searched angle this close to a roll already covers it
FOLLOW_TILT_MAX_PASSES = 2


def follow_tilt_angles(rolls: list[float], searched: list[float], *, min_roll: float) -> list[float]:
    """The extra angles to search after the first passes: the rolls (degrees, counter-clockwise)
    of faces tilted at least ``min_roll`` that no searched angle covers, grouped (a group's median,
    rounded to 5 degrees), the most common first, at most FOLLOW_TILT_MAX_PASSES."""
    tilted = sorted(r for r in rolls if abs(r) >= min_roll and abs(r) <= 90.0)
    groups: list[list[float]] = []
    for roll in tilted:
        if groups and roll - groups[-1][-1] <= FOLLOW_TILT_NEAR:
            groups[-1].append(roll)
        else:
            groups.append([roll])
    extra: list[float] = []
    for group in sorted(groups, key=lambda g: -len(g)):
        angle = float(5 * round(statistics.median(group) / 5))
        if all(abs(angle - other) >= FOLLOW_TILT_NEAR for other in [*searched, *extra]):
            extra.append(angle)
        if len(extra) == FOLLOW_TILT_MAX_PASSES:
            break
    return extra


def downscale(photo: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    import cv2

    height, width = photo.shape[:2]
    scale = min(1.0, max_side / max(width, height))
    if scale >= 1.0:
        return photo, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(photo, size, interpolation=cv2.INTER_AREA), scale


def rotate(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray | None]:
    """The image turned ``angle`` degrees counter-clockwise on a canvas that holds all of it, and
    the affine matrix that maps the copy's points back (None for angle 0)."""
    if angle % 360 == 0:
        return image, None
    import cv2

    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w = math.ceil(height * sin + width * cos - 1e-6)
    new_h = math.ceil(height * cos + width * sin - 1e-6)
    matrix[0, 2] += new_w / 2 - width / 2
    matrix[1, 2] += new_h / 2 - height / 2
    rotated = cv2.warpAffine(image, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return rotated, cv2.invertAffineTransform(matrix)


def _map(point: tuple[float, float], back: np.ndarray | None, scale: float) -> tuple[float, float]:
    x, y = point
    if back is not None:
        x, y = (
            back[0, 0] * x + back[0, 1] * y + back[0, 2],
            back[1, 0] * x + back[1, 1] * y + back[1, 2],
        )
    return float(x) / scale, float(y) / scale


def to_photo(
    raw: RawFace, *, back: np.ndarray | None, scale: float, angle: float, width: int, height: int
) -> FoundFace | None:
    """A backend's face in photo pixels. A face found on a rotated copy keeps its size around its
    mapped-back centre (the box of the face, not of the turned rectangle); the box is clipped to
    the photo. The angle comes from the eyes when there are some, else from the copy."""
    x, y, w, h = raw.box
    cx, cy = _map((x + w / 2, y + h / 2), back, scale)
    w, h = w / scale, h / scale
    x1, y1 = max(0, round(cx - w / 2)), max(0, round(cy - h / 2))
    x2, y2 = min(width, round(cx + w / 2)), min(height, round(cy + h / 2))
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return None
    landmarks = {name: [round(v, 1) for v in _map(point, back, scale)] for name, point in raw.landmarks.items()}
    if "left_eye" in landmarks and "right_eye" in landmarks:
        (lx, ly), (rx, ry) = landmarks["left_eye"], landmarks["right_eye"]
        angle = math.degrees(math.atan2(ry - ly, rx - lx))
    angle = round((angle + 180.0) % 360.0 - 180.0, 1)
    return FoundFace(box=(x1, y1, x2 - x1, y2 - y1), score=round(float(raw.score), 4), landmarks=landmarks, angle=angle)


def suppress(found: list[tuple[FoundFace, float]]) -> list[FoundFace]:
    """Non-maximum suppression across angles: the best score wins; at equal scores the detection
    from the least-turned copy (fewer artefacts from the rotation)."""
    ordered = sorted(found, key=lambda item: (-item[0].score, abs(item[1])))
    kept: list[FoundFace] = []
    for face, _ in ordered:
        if all(iou(face.box, other.box) <= NMS_IOU for other in kept):
            kept.append(face)
    return kept


def aligned_crop(photo: np.ndarray, face: FoundFace, *, size: int | None = None) -> bytes:
    """The face levelled (turned by its angle around the box centre), cut out square with a
    margin of ``IDOLSITE_CROP_MARGIN`` on each side, resized to ``size`` and encoded JPEG."""
    import cv2

    size = size or settings.IDOLSITE_CROP_SIZE
    x, y, w, h = face.box
    cx, cy = x + w / 2, y + h / 2
    side = max(w, h) * (1 + 2 * settings.IDOLSITE_CROP_MARGIN)
    source = photo
    # Shrinking more than 2x in one warp aliases: shrink the neighbourhood with INTER_AREA first.
    shrink = size / side
    if shrink < 0.5:
        reach = side * 0.75  # half the diagonal of the turned square
        left, top = max(0, int(cx - reach)), max(0, int(cy - reach))
        right, bottom = min(photo.shape[1], math.ceil(cx + reach)), min(photo.shape[0], math.ceil(cy + reach))
        factor = 2 * shrink
        part = photo[top:bottom, left:right]
        source = cv2.resize(
            part,
            (max(1, round(part.shape[1] * factor)), max(1, round(part.shape[0] * factor))),
            interpolation=cv2.INTER_AREA,
        )
        cx, cy, side = (cx - left) * factor, (cy - top) * factor, side * factor
    matrix = cv2.getRotationMatrix2D((cx, cy), face.angle, size / side)
    matrix[0, 2] += size / 2 - cx
    matrix[1, 2] += size / 2 - cy
    crop = cv2.warpAffine(source, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise RuntimeError("OpenCV could not encode a face crop as JPEG")
    return encoded.tobytes()
