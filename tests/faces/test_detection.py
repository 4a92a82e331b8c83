"""The detection pipeline with the real backends on the shared photos, and its geometry."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from faces.detection import FoundFace, analyze_bytes, analyze_image, iou, rotate, search_angles, suppress
from faces.detectors import DetectorUnavailable, get_detector
from tests.conftest import SHARED_PHOTOS, needs_shared_photos, needs_yunet_model

# The astronaut's face, by hand: left, top, width, height.
ASTRONAUT_FACE = (180, 64, 88, 106)


def astronaut() -> Image.Image:
    return Image.open(SHARED_PHOTOS / "astronaut.png").convert("RGB")


def turned(image: Image.Image, angle: float) -> tuple[Image.Image, tuple[float, float]]:
    """The image turned counter-clockwise (canvas grown, edges replicated so no black corners
    look like shapes), and where the astronaut's face centre lands."""
    array = np.asarray(image)
    rotated, back = rotate(array, angle)
    import cv2

    forward = cv2.invertAffineTransform(back)
    x, y, w, h = ASTRONAUT_FACE
    cx, cy = forward @ np.array([x + w / 2, y + h / 2, 1.0])
    return Image.fromarray(rotated), (float(cx), float(cy))


def centre(face: FoundFace) -> tuple[float, float]:
    x, y, w, h = face.box
    return x + w / 2, y + h / 2


# --- geometry, no detector -------------------------------------------------------------------


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def test_rotation_maps_points_back_to_the_photo():
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    rotated, back = rotate(image, 90)
    assert rotated.shape[:2] == (200, 100)  # the canvas holds all of it
    # Turned 90° counter-clockwise, the photo's top-right corner is the copy's top-left.
    assert back @ np.array([0, 0, 1.0]) == pytest.approx([200, 0], abs=1)
    same, none = rotate(image, 0)
    assert same is image and none is None


def test_suppression_keeps_the_best_detection_of_each_face_with_its_angle():
    upright = FoundFace(box=(10, 10, 50, 50), score=0.90, landmarks={}, angle=0.0)
    turned_copy = FoundFace(box=(12, 11, 48, 50), score=0.97, landmarks={}, angle=30.0)
    other = FoundFace(box=(100, 10, 50, 50), score=0.80, landmarks={}, angle=0.0)
    kept = suppress([(upright, 0.0), (turned_copy, 30.0), (other, 0.0)])
    assert kept == [turned_copy, other]


def test_angles_setting_overrides_the_backend_default(settings):
    settings.IDOLSITE_DETECT_ANGLES = []
    assert search_angles("mtcnn") == [0.0]
    assert search_angles("haar") == [0.0, -30.0, 30.0]
    settings.IDOLSITE_DETECT_ANGLES = [45, -45, 0, 45]
    assert search_angles("mtcnn") == [0.0, -45.0, 45.0]


def test_missing_yunet_model_is_a_clear_error(settings, tmp_path):
    settings.IDOLSITE_YUNET_MODEL = tmp_path / "missing.onnx"
    with pytest.raises(DetectorUnavailable, match=r"missing\.onnx does not exist: set IDOLSITE_YUNET_MODEL"):
        get_detector("yunet")


def test_system_check_reports_missing_yunet_model_when_selected(settings, tmp_path):
    from faces.checks import check_detector

    settings.IDOLSITE_DETECTOR = "yunet"
    settings.IDOLSITE_YUNET_MODEL = tmp_path / "missing.onnx"
    assert [e.id for e in check_detector()] == ["idolsite.E004"]
    settings.IDOLSITE_DETECTOR = "nope"
    assert [e.id for e in check_detector()] == ["idolsite.E003"]
    settings.IDOLSITE_DETECTOR = "mtcnn"
    assert check_detector() == []


# --- real detectors on real photos -------------------------------------------------------------


@needs_shared_photos
def test_mtcnn_finds_the_astronaut_with_landmarks_and_an_aligned_crop():
    analysis = analyze_bytes((SHARED_PHOTOS / "astronaut.png").read_bytes(), detector="mtcnn")
    assert (analysis.width, analysis.height, analysis.detector) == (512, 512, "mtcnn")
    [face] = analysis.faces
    assert iou(face.box, ASTRONAUT_FACE) > 0.7
    assert face.score > 0.95
    assert set(face.landmarks) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}
    assert face.landmarks["left_eye"][0] < face.landmarks["right_eye"][0]
    assert abs(face.angle) < 6
    crop = Image.open(io.BytesIO(face.crop))
    assert (crop.format, crop.size) == ("JPEG", (128, 128))


@needs_shared_photos
def test_a_tilted_face_is_found_with_its_angle_and_levelled():
    image, (cx, cy) = turned(astronaut(), 35)
    [face] = [f for f in analyze_image(image, detector="mtcnn").faces if f.score > 0.95]
    assert abs(centre(face)[0] - cx) < 15 and abs(centre(face)[1] - cy) < 15
    assert face.angle == pytest.approx(-35, abs=8)  # turn it back clockwise to make it upright
    assert face.landmarks["right_eye"][1] < face.landmarks["left_eye"][1]  # eyes slope up to the right


@needs_shared_photos
def test_rotation_search_finds_a_sideways_face_and_maps_it_back():
    image, (cx, cy) = turned(astronaut(), 90)
    assert analyze_image(image, detector="mtcnn", angles=[0.0]).faces == []  # upright search misses it
    faces = analyze_image(image, detector="mtcnn", angles=[0.0, -90.0, 90.0]).faces
    [face] = [f for f in faces if f.score > 0.95]
    assert abs(centre(face)[0] - cx) < 15 and abs(centre(face)[1] - cy) < 15
    assert face.angle == pytest.approx(-90, abs=10)


@needs_shared_photos
def test_large_photos_are_downscaled_for_detection_and_boxes_scaled_back():
    full = analyze_image(astronaut(), detector="mtcnn")
    small = analyze_image(astronaut(), detector="mtcnn", max_side=256)
    assert small.scale == 0.5 and small.width == 512
    assert iou(small.faces[0].box, full.faces[0].box) > 0.8


@needs_shared_photos
def test_faces_below_the_minimum_size_are_skipped_and_counted():
    analysis = analyze_image(astronaut(), detector="mtcnn", min_face_size=120)
    assert analysis.faces == []
    assert analysis.skipped == {"too_small": 1}
    assert analysis.info["skipped"] == {"too_small": 1}


@needs_shared_photos
def test_mtcnn_finds_no_face_on_the_dogs():
    assert analyze_bytes((SHARED_PHOTOS / "dogs.jpg").read_bytes(), detector="mtcnn").faces == []


@needs_shared_photos
def test_mtcnn_finds_the_annotated_faces_of_a_group_photo():
    truth = json.loads((SHARED_PHOTOS / "boxes.json").read_text())["2008_002470.jpg"]
    faces = analyze_bytes((SHARED_PHOTOS / "2008_002470.jpg").read_bytes(), detector="mtcnn").faces
    assert all(any(iou(face.box, box) >= 0.5 for face in faces) for box in truth)


@needs_shared_photos
def test_haar_finds_the_astronaut_with_rotation_search():
    faces = analyze_image(astronaut(), detector="haar").faces
    assert any(iou(face.box, ASTRONAUT_FACE) > 0.6 for face in faces)


@needs_shared_photos
@needs_yunet_model
def test_yunet_finds_the_astronaut_with_landmarks():
    [face] = analyze_image(astronaut(), detector="yunet").faces
    assert iou(face.box, ASTRONAUT_FACE) > 0.7
    assert face.landmarks["left_eye"][0] < face.landmarks["right_eye"][0]
