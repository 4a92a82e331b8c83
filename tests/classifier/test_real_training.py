"""A real (small) training through the product path on shared face crops must learn: its
validation top-1 beats chance by a clear margin. Then recognition of known crops with the
detection step stubbed. Marked slow: 40-80 s on two shared cores."""

from __future__ import annotations

import pytest
from PIL import Image

from classifier import recognition, services
from classifier.models import ModelVersion, TrainingRun
from classifier.services.versions import forget_loaded, load_classifier
from labeling.services import face_import, idol_create
from tests.conftest import SHARED_FACES, needs_shared_faces

pytestmark = [pytest.mark.django_db, pytest.mark.slow, needs_shared_faces]

PEOPLE = ["Daniel_Radcliffe", "Hugh_Jackman", "Keira_Knightley", "Will_Smith"]
FACES_PER_PERSON = 30
CHANCE = 1 / len(PEOPLE)
# 2.5x chance: the recipe below scored 0.81-0.91 in six runs on a 2-core CPU (SQLite and
# PostgreSQL, so different splits); with the labels shuffled among the faces it scored 0.34.
MIN_TOP1 = 2.5 * CHANCE


@pytest.fixture
def shared_sample(settings):
    settings.IDOLSITE_MIN_FACES_PER_CLASS = 10
    settings.IDOLSITE_TRAINING_EPOCHS = 2
    # ~96 training faces make 2 steps an epoch: the recipe trains more epochs, up to this many
    # steps (at 60 steps validation was still near chance; from 100 on it is far above).
    settings.IDOLSITE_TRAINING_MIN_STEPS = 120
    files = {}
    for person in PEOPLE:
        idol = idol_create(name=person.replace("_", " "))
        files[idol] = sorted((SHARED_FACES / person).iterdir())[:FACES_PER_PERSON]
        for path in files[idol]:
            face_import(data=path.read_bytes(), idol=idol, original_name=path.name)
    return files


def test_real_training_beats_chance_then_recognizes_known_crops(shared_sample, monkeypatch):
    run = TrainingRun.objects.create()
    services.training_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.n_classes == len(PEOPLE)
    # The validation side is a hash of the face id: about a fifth of the 120 faces (24 expected).
    assert run.metrics["n_validation"] >= 8
    assert run.metrics["top1"] >= MIN_TOP1, (run.metrics["top1"], run.metrics["n_validation"], run.epochs)
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
    assert [f.box for f in faces] == [(i * 10, 0, 112, 112) for i in range(len(PEOPLE))]
    names = {idol.name for idol in shared_sample}
    for face in faces:
        assert {g.name for g in face.top} == names and len(face.top) == len(PEOPLE)
        assert face.top[0].probability == max(g.probability for g in face.top)
