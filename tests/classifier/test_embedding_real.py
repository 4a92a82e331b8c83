"""The embedding recognizer with dlib's real model on the shared faces: a fresh install names
faces after the first few labels, with nobody starting a training; "who is this?" answers from it."""

from __future__ import annotations

import io

import pytest

from classifier.models import ModelVersion, TrainingRun
from faces import services as face_services
from faces import tasks as face_tasks
from labeling.services import face_import, idol_create
from tests.conftest import distinct_crops, needs_shared_faces

pytestmark = [pytest.mark.django_db, needs_shared_faces]

PEOPLE = ["Hugh_Jackman", "Keira_Knightley", "Will_Smith"]
LABELED = 2
PROBES = 4


def unlabeled_face(data: bytes):
    """A crop added as a face nobody labeled (as a box drawn over a whole photo)."""
    import io

    from PIL import Image

    width, height = Image.open(io.BytesIO(data)).size
    photo = face_services.photo_create(data=data, near_copies=False)  # aligned crops look alike
    with face_services.atomic_with_files() as files:
        return face_services.face_create(
            photo=photo, box=(0, 0, width, height), crop_jpeg=data, detector="manual", score=1.0, tracker=files
        )


def test_the_first_labels_suggest_names_on_the_grid_with_no_training_asked(
    auto_retrain, django_capture_on_commit_callbacks, admin_client
):
    idols, labeled, probes = {}, [], {}
    for person in PEOPLE:
        idols[person] = idol_create(name=person.replace("_", " "))
        crops = distinct_crops(person)
        for data in crops[:LABELED]:
            labeled.append(face_import(data=data, idol=idols[person]).face_id)
        for data in crops[LABELED : LABELED + PROBES]:
            probes.setdefault(person, []).append(unlabeled_face(data).pk)
    assert not TrainingRun.objects.exists()
    # The default worker embeds the new faces; labeled faces with a vector retrain the
    # recognizer, whose suggestions follow: all on commit, nobody asks for a training.
    with auto_retrain():
        face_tasks.embed_faces(labeled)
    assert not TrainingRun.objects.filter(requested_by__isnull=False).exists()
    assert TrainingRun.objects.filter(recognizer="embedding", status="succeeded").exists()
    active = ModelVersion.objects.get(is_active=True)
    assert active.kind == "embedding" and len(active.class_idol_ids) == len(PEOPLE)

    ids = [pk for person in PEOPLE for pk in probes[person]]
    with django_capture_on_commit_callbacks(execute=True):  # their vectors, then their suggestions
        face_tasks.embed_faces(ids)
    answer = admin_client.get("/api/suggestions/for-faces/", {"faces": ",".join(map(str, ids))}).json()
    by_face = {row["face"]: row for row in answer["results"]}
    assert set(by_face) == set(ids)
    named = [by_face[pk]["top"][0]["idol"] == idols[person].pk for person in PEOPLE for pk in probes[person]]
    assert sum(named) >= len(ids) - 1, answer
    # With two labels a person some of her faces lie beyond the distance that keeps strangers
    # out: those say "unknown" (the names are still there to pick), never most of them.
    assert sum(row["unknown"] for row in by_face.values()) <= len(ids) // 4, answer
    assert all(0.0 < row["top"][0]["probability"] <= 1.0 for row in by_face.values())


def test_who_is_this_answers_from_the_embedding_recognizer_and_strangers_are_unknown(auto_retrain):
    from classifier.recognition import predict_crops

    idols, labeled = {}, []
    for person in PEOPLE:
        idols[person] = idol_create(name=person.replace("_", " "))
        for data in distinct_crops(person)[:5]:
            labeled.append(face_import(data=data, idol=idols[person]).face_id)
    with auto_retrain():
        face_tasks.embed_faces(labeled)
    assert ModelVersion.objects.get(is_active=True).kind == "embedding"
    # Crops as detection makes them: the face with the detection margin around it.
    from PIL import Image, ImageOps

    def with_margin(data: bytes):
        image = Image.open(io.BytesIO(data)).convert("RGB")
        side = image.width
        pad = int(side * 0.8 / (1 + 2 * 0.1) * 0.25)  # the default IDOLSITE_CROP_MARGIN around the face
        return ImageOps.expand(image, border=pad, fill=(128, 128, 128))

    known = [with_margin(distinct_crops(p)[10]) for p in PEOPLE]
    stranger = [with_margin(distinct_crops("Simon_Cowell")[0])]
    answers = predict_crops(known + stranger)
    assert [a.top[0].idol_id for a in answers[:3]] == [idols[p].pk for p in PEOPLE]
    assert not any(a.unknown for a in answers[:3])
    assert answers[3].unknown
