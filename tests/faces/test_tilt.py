"""Tilted faces: the follow-up pass at the roll of faces found tilted, and the tilt benchmark's
geometry (true boxes turned with their photo)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.detect import inside, rotate_box
from faces.detection import analyze_image, follow_tilt_angles, rotate
from faces.detectors import RawFace
from tests.conftest import needs_shared_photos

ROOT = Path(__file__).resolve().parent.parent.parent


def test_a_box_turned_a_quarter_lands_where_its_pixels_do():
    image = np.zeros((100, 200), dtype=np.uint8)
    image[20:60, 10:40] = 255  # the box [10, 20, 30, 40]
    rotated, back = rotate(image, 90)
    import cv2

    aabb, corners = rotate_box([10, 20, 30, 40], cv2.invertAffineTransform(back))
    # Turned 90° counter-clockwise around the centre on a 100x200 canvas: (x, y) -> (y, 200 - x).
    assert aabb == pytest.approx([20, 160, 40, 30], abs=1)
    ys, xs = np.nonzero(rotated > 127)
    assert [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()] == pytest.approx(aabb, abs=1)
    assert inside((40, 175), corners)
    assert not inside((10, 175), corners)


def test_a_box_turned_45_degrees_grows_to_hold_its_corners():
    forward = [
        [math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0],
        [-math.sin(math.pi / 4), math.cos(math.pi / 4), 0.0],
    ]
    aabb, corners = rotate_box([0, 0, 10, 10], forward)
    assert aabb[2] == pytest.approx(10 * math.sqrt(2))
    assert aabb[3] == pytest.approx(10 * math.sqrt(2))
    assert not inside((aabb[0] + 0.5, aabb[1] + 0.5), corners)  # a corner of the bounding box, not of the face


def test_follow_tilt_angles_group_the_rolls_that_no_searched_angle_covers():
    assert follow_tilt_angles([2.0, -4.0, 9.0], [0.0], min_roll=15.0) == []
    assert follow_tilt_angles([33.0, 36.5, 38.0, -3.0], [0.0], min_roll=15.0) == [35.0]
    assert follow_tilt_angles([-48.0, -44.0, 22.0], [0.0], min_roll=15.0) == [-45.0, 20.0]
    assert follow_tilt_angles([28.0, 31.0], [-30.0, 0.0, 30.0], min_roll=15.0) == []


def tilted_face(x: float, y: float, w: float, h: float, roll: float) -> RawFace:
    """A face whose eyes slope by ``roll`` degrees (the right eye lower for a positive roll)."""
    dx = w * 0.4
    return RawFace(
        box=(x, y, w, h),
        score=0.99,
        landmarks={
            "left_eye": (x + w * 0.3, y + h * 0.4),
            "right_eye": (x + w * 0.3 + dx, y + h * 0.4 + dx * math.tan(math.radians(roll))),
        },
    )


@pytest.mark.parametrize(("follow", "roll", "passes"), [(True, 30.0, 2), (True, 5.0, 1), (False, 30.0, 1)])
def test_a_tilted_face_sends_the_photo_to_a_pass_turned_by_its_roll(settings, scripted, follow, roll, passes):
    settings.IDOLSITE_DETECT_FOLLOW_TILT = follow
    settings.IDOLSITE_DETECT_FOLLOW_TILT_MIN_ROLL = 15.0
    scripted.faces = [tilted_face(100, 100, 60, 60, roll)]
    analysis = analyze_image(Image.new("RGB", (320, 320)), crops=False)
    assert scripted.calls == passes
    assert analysis.angles == ([0.0, 30.0] if passes == 2 else [0.0])
    assert analysis.info["angles"] == analysis.angles  # the photo records the extra pass


def test_tilted_faces_are_followed_up_by_default(scripted):
    # Only the settings' defaults: a photo whose faces are rolled 40° gets a pass turned by 40°.
    scripted.faces = [tilted_face(100, 100, 60, 60, 40.0), tilted_face(200, 100, 60, 60, 38.0)]
    analysis = analyze_image(Image.new("RGB", (400, 320)), crops=False)
    assert analysis.angles == [0.0, 40.0]
    assert scripted.calls == 2


@pytest.mark.slow
@needs_shared_photos
def test_tilt_benchmark_quick_run_reports_recall_per_angle():
    done = subprocess.run(
        [sys.executable, "bench/detect.py", "--tilt", "--quick", "--configs", "mtcnn,mtcnn_follow"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])["detect_tilt"]
    assert set(result) == {"mtcnn", "mtcnn_follow"}
    for figures in result.values():
        assert set(figures["recall"]) == {"-35", "0", "35"}
        assert figures["recall"]["0"] >= 0.9
        assert figures["false_positives_upright"] == 0
