from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from classifier.ml.classifier import FORMAT_VERSION, Classifier, IncompatibleModel
from classifier.models import ModelVersion
from classifier.services.versions import load_classifier

pytestmark = pytest.mark.django_db


def test_save_and_load_round_trip(tiny_model_dir, tmp_path):
    clf = Classifier.load(tiny_model_dir)
    pixels = np.random.default_rng(1).integers(0, 255, size=(5, 16, 16, 3), dtype=np.uint8)
    probabilities, embeddings = clf.predict_with_embeddings(pixels)
    assert probabilities.shape == (5, 2) and embeddings.shape == (5, 8)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    copy = tmp_path / "again"
    clf.save(copy)
    assert sorted(p.name for p in copy.iterdir()) == ["model.json", "model.keras"]  # no temporary left
    meta = json.loads((copy / "model.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION and meta["class_idol_ids"] == [1, 2]
    assert meta["input_size"] == 16 and meta["fingerprint"] and meta["versions"]["keras"]
    loaded = Classifier.load(copy)
    np.testing.assert_allclose(loaded.predict_with_embeddings(pixels)[0], probabilities, rtol=1e-5, atol=1e-6)
    # one pass (the validation metric) and the average with the mirror image (suggestions)
    one_pass = loaded.predict(pixels)
    mirrored = loaded.predict(pixels[:, :, ::-1])
    np.testing.assert_allclose((one_pass + mirrored) / 2, probabilities, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.predict_with_embeddings(pixels, mirror=False)[0], one_pass, rtol=1e-5, atol=1e-6)


def test_a_folder_without_its_json_is_not_a_model(tiny_model_dir, tmp_path):
    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(tiny_model_dir / "model.keras", half / "model.keras")  # killed before the JSON
    with pytest.raises(IncompatibleModel):
        Classifier.load(half)


@pytest.mark.parametrize("damage", ["other_version", "corrupt_model", "corrupt_json"])
def test_corrupt_or_other_version_model_is_set_aside(damage, active_tiny_model):
    path = active_tiny_model.path
    if damage == "other_version":
        meta = json.loads((path / "model.json").read_text())
        meta["format_version"] = FORMAT_VERSION + 1
        (path / "model.json").write_text(json.dumps(meta))
    elif damage == "corrupt_model":
        (path / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    else:
        (path / "model.json").write_text("{not json")
    assert load_classifier() is None
    assert not path.exists()
    assert list(path.parent.glob(f"{path.name}.set-aside-*"))
    version = ModelVersion.objects.get(pk=active_tiny_model.pk)
    assert version.set_aside and not version.is_active
    assert ModelVersion.objects.active() is None  # the next scheduled check retrains


def test_load_classifier_without_a_model_is_none():
    assert load_classifier() is None


def test_web_modules_do_not_import_tensorflow_or_keras():
    code = (
        "import django, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'idolsite.settings');"
        "os.environ.setdefault('SECRET_KEY', 'x'); django.setup();"
        "import classifier.admin, classifier.api.recognition, classifier.api.suggestions, classifier.api.runs,"
        " classifier.views.runs, classifier.views.review, classifier.tasks, classifier.services, classifier.selectors,"
        " classifier.recognition, classifier.dataset, classifier.ml.classifier, classifier.ml.fitting,"
        " classifier.ml.network, classifier.ml.layers, classifier.ml.precision, classifier.ml.evaluation,"
        " idolsite.urls;"
        "bad = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
