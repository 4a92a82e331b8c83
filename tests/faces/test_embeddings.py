"""Face embeddings: the embedder registry and its settings, dlib's real model on shared crops,
the task queued after detection, idempotence, failures, the command and the selector."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from faces import embedders, services
from faces.checks import check_embedder
from faces.embedders import EmbedderUnavailable, embedder_class, face_box_in_crop, get_embedder
from faces.models import Face, FaceEmbedding
from faces.selectors import current_model, embedding_matrix
from faces.tasks import embed_faces
from labeling.services import face_import, idol_create
from tests.conftest import SHARED_FACES, needs_shared_faces
from tests.faces.conftest import face
from tests.factories import image_bytes, make_face, make_photo

pytestmark = pytest.mark.django_db


def _rows(**filters):
    return FaceEmbedding.objects.filter(**filters).order_by("face_id")


# --- registry and settings ---------------------------------------------------------------------


def test_unknown_embedder_is_a_check_error_and_cannot_be_loaded(settings):
    settings.IDOLSITE_EMBEDDER = "nope"
    errors = check_embedder()
    assert [e.id for e in errors] == ["faces.E002"] and "dlib" in errors[0].hint
    with pytest.raises(EmbedderUnavailable, match="unknown embedder 'nope'"):
        embedder_class()


def test_default_embedder_is_dlib_with_the_packaged_model_and_passes_the_check():
    assert embedder_class() is embedders.DlibEmbedder
    assert embedders.DlibEmbedder.model_path().name == "dlib_face_recognition_resnet_model_v1.dat"
    assert check_embedder() == []
    name, model_hash = current_model()
    assert name == "dlib" and len(model_hash) == 16


def test_missing_model_file_is_a_check_error_and_the_task_stores_nothing(settings, tmp_path):
    missing = tmp_path / "taguchi_face_recognition_resnet_model_v1.dat"
    settings.IDOLSITE_EMBEDDER_MODEL = str(missing)
    errors = check_embedder()
    assert [e.id for e in errors] == ["faces.E003"]
    assert str(missing) in errors[0].msg and "IDOLSITE_EMBEDDER_MODEL" in errors[0].msg
    face_ = make_face()
    assert embed_faces([face_.pk]).startswith("the embedder cannot run")
    assert not FaceEmbedding.objects.exists()


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"BZh91AY&SY" + b"\0" * 100, "bzip2"), (b"<html>Not Found</html>", "too small to be a dlib model")],
)
def test_compressed_or_truncated_model_file_is_a_check_error(settings, tmp_path, content, says):
    path = tmp_path / "model.dat"
    path.write_bytes(content)
    settings.IDOLSITE_EMBEDDER_MODEL = str(path)
    errors = check_embedder()
    assert [e.id for e in errors] == ["faces.E003"] and says in errors[0].msg


def test_corrupt_model_file_is_a_clear_task_error(settings, tmp_path):
    path = tmp_path / "corrupt.dat"
    path.write_bytes(np.random.default_rng(0).bytes(2 << 20))
    settings.IDOLSITE_EMBEDDER_MODEL = str(path)
    face_ = make_face()
    message = embed_faces([face_.pk])
    assert "cannot be loaded by dlib" in message and str(path) in message
    assert not FaceEmbedding.objects.exists()


def test_the_face_box_in_a_crop_follows_the_detection_margin_or_is_the_whole_crop():
    assert face_box_in_crop(side=150, detector="mtcnn", margin=0.25) == pytest.approx((25, 25, 100, 100))
    assert face_box_in_crop(side=100, detector="yunet", margin=0.0) == (0, 0, 100, 100)
    assert face_box_in_crop(side=100, detector="import", margin=0.25) == pytest.approx((10, 10, 80, 80))
    assert face_box_in_crop(side=100, detector="manual", margin=0.25) == pytest.approx((10, 10, 80, 80))


# --- the real model on shared faces ------------------------------------------------------------

PEOPLE = ["Hugh_Jackman", "Keira_Knightley"]


@needs_shared_faces
def test_real_model_embeds_imported_crops_and_separates_two_people(auto_embed):
    faces_of: dict[str, list[int]] = {}
    for person in PEOPLE:
        idol = idol_create(name=person.replace("_", " "))
        for path in sorted((SHARED_FACES / person).iterdir())[:3]:
            with auto_embed():  # as import_faces does: each crop its own transaction
                label = face_import(data=path.read_bytes(), idol=idol, original_name=path.name)
            faces_of.setdefault(person, []).append(label.face_id)
    assert _rows().count() == 6 and not _rows().failed().exists()

    ids, vectors = embedding_matrix(Face.objects.all())
    assert vectors.shape == (6, 128) and vectors.dtype == np.float32
    # dlib's descriptors are not normalised: their norm is ~1.4-1.5 on these crops.
    assert np.all((np.linalg.norm(vectors, axis=1) > 0.5) & (np.linalg.norm(vectors, axis=1) < 2.5))
    by_id = dict(zip(ids.tolist(), vectors, strict=True))
    groups = [[by_id[pk] for pk in faces_of[person]] for person in PEOPLE]
    same = [np.linalg.norm(a - b) for g in groups for a, b in itertools.combinations(g, 2)]
    different = [np.linalg.norm(a - b) for a in groups[0] for b in groups[1]]
    assert max(same) < min(different)
    assert np.mean(same) < 0.6 < np.mean(different)


# --- the task after detection and by hand ------------------------------------------------------


def test_faces_found_by_detection_are_embedded_in_one_task_on_commit(scripted, auto_detect, auto_embed, monkeypatch):
    calls = []
    real = services.face_embeddings_compute
    monkeypatch.setattr(services, "face_embeddings_compute", lambda **kw: calls.append(kw["face_ids"]) or real(**kw))
    scripted.faces = [face(20, 30, 60, 70), face(150, 40, 50, 50)]
    with auto_detect():
        photo = make_photo(data=image_bytes(320, 240))
    faces = sorted(photo.faces.values_list("pk", flat=True))
    assert len(faces) == 2 and calls == [faces]
    name, model_hash = current_model()
    rows = list(_rows(embedder=name, model_hash=model_hash))
    assert [r.face_id for r in rows] == faces
    assert all(r.error == "" and r.dimension == 128 and len(bytes(r.vector)) == 128 * 4 for r in rows)


def test_a_face_drawn_by_hand_is_embedded(auto_embed):
    photo = make_photo(data=image_bytes(320, 240))
    with auto_embed():
        drawn = services.face_add_manual(photo=photo, box=(40, 40, 80, 80))
    assert _rows(face=drawn).computed().count() == 1


def test_no_embedding_is_queued_when_the_creating_transaction_rolls_back(auto_embed, monkeypatch):
    queued = []
    monkeypatch.setattr("faces.services.embeddings.async_task", lambda *a, **kw: queued.append(a))
    with auto_embed(), pytest.raises(RuntimeError), services.atomic_with_files():
        make_face()
        raise RuntimeError("undo")
    with auto_embed():
        kept = make_face()
    assert queued == [("faces.tasks.embed_faces", [kept.pk])]


def test_embedding_twice_does_the_work_once():
    faces = [make_face().pk, make_face().pk]
    assert embed_faces(faces) == "2 embedded, 0 failed, 0 skipped"
    before = list(_rows().values_list("pk", "created_at", "vector"))
    assert embed_faces(faces) == "0 embedded, 0 failed, 2 skipped"
    assert list(_rows().values_list("pk", "created_at", "vector")) == before
    assert embed_faces([*faces, 987654]) == "0 embedded, 0 failed, 3 skipped"  # one gone meanwhile


def _break_crop(face_: Face) -> None:
    with default_storage.open(face_.crop.name, "wb") as handle:
        handle.write(b"not a jpeg")


def test_an_unreadable_crop_is_recorded_and_not_retried_until_asked(monkeypatch):
    good, bad = make_face(), make_face()
    _break_crop(bad)
    assert embed_faces([good.pk, bad.pk]) == "1 embedded, 1 failed, 0 skipped"
    failed = _rows(face=bad).get()
    assert failed.dimension == 0 and bytes(failed.vector) == b""
    assert failed.error.startswith("the crop cannot be read")
    assert embed_faces([bad.pk]) == "0 embedded, 0 failed, 1 skipped"

    with default_storage.open(bad.crop.name, "wb") as handle:
        handle.write(image_bytes(64, 64))
    out, err = io.StringIO(), io.StringIO()
    call_command("embed", "--failed", stdout=out, stderr=err)
    assert "1 face(s) embedded, 0 failed, 0 skipped" in out.getvalue()
    assert _rows(face=bad).computed().count() == 1


def test_one_face_the_library_refuses_fails_alone(monkeypatch):
    faces = [make_face(), make_face(), make_face()]
    embedder = get_embedder()
    chip = type(embedder).chip

    def refuse_second(self, image):
        if image.rgb is refused[0]:
            raise RuntimeError("dlib says no")
        return chip(self, image)

    refused: list = [None]
    real_load = services.embeddings.load_face_image

    def load(face_):
        image = real_load(face_)
        if face_.pk == faces[1].pk:
            refused[0] = image.rgb
        return image

    monkeypatch.setattr(services.embeddings, "load_face_image", load)
    monkeypatch.setattr(type(embedder), "chip", refuse_second)
    assert embed_faces([f.pk for f in faces]) == "2 embedded, 1 failed, 0 skipped"
    assert _rows(face=faces[1]).get().error == "the embedder failed: RuntimeError: dlib says no"


# --- the command and the selector --------------------------------------------------------------


def test_embed_command_embeds_what_is_missing_and_reports(settings):
    faces = [make_face(), make_face(), make_face()]
    _break_crop(faces[2])
    out, err = io.StringIO(), io.StringIO()
    call_command("embed", "--batch", "2", stdout=out, stderr=err)
    _, model_hash = current_model()
    assert f"2 face(s) embedded, 1 failed, 0 skipped (dlib, model {model_hash})." in out.getvalue()
    assert f"face {faces[2].pk}: the crop cannot be read" in err.getvalue()

    out = io.StringIO()
    call_command("embed", stdout=out, stderr=io.StringIO())
    assert "No face to embed." in out.getvalue()

    out = io.StringIO()
    call_command("embed", "--all", stdout=out, stderr=io.StringIO())
    assert "2 face(s) embedded, 1 failed, 0 skipped" in out.getvalue()
    assert _rows().count() == 3


def test_embedding_matrix_reads_in_chunks_and_leaves_out_faces_without_a_vector():
    faces = [make_face() for _ in range(4)]
    _break_crop(faces[1])
    embed_faces([f.pk for f in faces[:3]])  # faces[3] never embedded, faces[1] failed
    ids, vectors = embedding_matrix(Face.objects.all(), chunk_size=1)
    assert ids.tolist() == [faces[0].pk, faces[2].pk] and vectors.shape == (2, 128)
    whole_ids, whole = embedding_matrix(Face.objects.filter(pk__in=[faces[0].pk, faces[2].pk]))
    assert whole_ids.tolist() == ids.tolist() and np.array_equal(whole, vectors)
    assert embedding_matrix(Face.objects.none())[1].shape == (0, 128)
