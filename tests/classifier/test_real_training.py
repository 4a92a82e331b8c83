"""A real (tiny) training through the product path on shared face crops, and recognition of
known crops with the detection step stubbed. Marked slow: about a minute on two cores."""

from __future__ import annotations

import pytest
from PIL import Image

from classifier import recognition, services
from classifier.models import ModelVersion, TrainingRun
from classifier.services.versions import forget_loaded, load_classifier
from labeling.services import face_import, idol_create
from tests.conftest import SHARED_FACES, needs_shared_faces

pytestmark = [pytest.mark.django_db, pytest.mark.slow, needs_shared_faces]

PEOPLE = ["Daniel_Radcliffe", "Hugh_Jackman", "Will_Smith"]


@pytest.fixture
def shared_sample(settings):
    settings.IDOLSITE_MIN_FACES_PER_CLASS = 10
    settings.IDOLSITE_TRAINING_EPOCHS = 2
    settings.IDOLSITE_TRAINING_MIN_STEPS = 0
    files = {}
    for person in PEOPLE:
        idol = idol_create(name=person.replace("_", " "))
        files[idol] = sorted((SHARED_FACES / person).iterdir())[:20]
        for path in files[idol]:
            face_import(data=path.read_bytes(), idol=idol, original_name=path.name)
    return files


def test_real_training_then_recognition_of_known_crops(shared_sample, monkeypatch):
    run = TrainingRun.objects.create()
    services.training_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.epochs == 2 and run.n_classes == 3 and 0 <= run.metrics["top1"] <= 1
    version = ModelVersion.objects.active()
    assert version.run_id == run.pk and version.class_idol_ids == sorted(i.pk for i in shared_sample)

    forget_loaded()
    clf = load_classifier()
    assert clf is not None and clf.input_size == 64
    crops = [Image.open(paths[0]).convert("RGB") for paths in shared_sample.values()]
    monkeypatch.setattr(
        recognition, "detect_faces", lambda image: [((i * 10, 0, 112, 112), c) for i, c in enumerate(crops)]
    )
    faces = recognition.recognize(Image.new("RGB", (400, 200)))
    assert [f.box for f in faces] == [(0, 0, 112, 112), (10, 0, 112, 112), (20, 0, 112, 112)]
    names = {idol.name for idol in shared_sample}
    for face in faces:
        assert {g.name for g in face.top} == names and len(face.top) == 3
        assert face.top[0].probability == max(g.probability for g in face.top)
