"""The recognizer on face embeddings: the head, its threshold and temperature, its training run,
its suggestions and its retraining on new labels (synthetic vectors; the real model on the
shared faces at the end)."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import transaction

from classifier import tasks
from classifier.ml.classifier import IncompatibleModel
from classifier.ml.embedding_head import EmbeddingClassifier, HeadRecipe, fit_temperature, nearest_by_class, softmax
from classifier.models import ModelVersion, Suggestion, TrainingRun
from classifier.services import runs, suggestions_reject
from labeling.services import face_label, faces_label
from tests.factories import make_embedded_face, make_idol

pytestmark = pytest.mark.django_db

DIM = 128


def centres(n: int, seed: int = 0) -> np.ndarray:
    """People as points 1.5 from the origin (dlib's vectors are that long): about 2 apart."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(n, DIM))
    return (1.5 * c / np.linalg.norm(c, axis=1, keepdims=True)).astype(np.float32)


def around(centre: np.ndarray, n: int, seed: int, spread: float = 0.025) -> np.ndarray:
    """Faces of one person: about 0.4 apart, as dlib's faces of one person are."""
    rng = np.random.default_rng(seed)
    return (centre + rng.normal(scale=spread, size=(n, DIM))).astype(np.float32)


def synthetic(people: int, per_person: int, seed: int = 0):
    c = centres(people, seed)
    vectors = np.concatenate([around(c[p], per_person, seed * 1000 + p) for p in range(people)])
    labels = np.repeat(np.arange(people), per_person)
    return c, vectors, labels


def test_the_head_names_known_people_and_calls_strangers_unknown():
    _, vectors, labels = synthetic(8, 30)
    validation = np.arange(len(labels)) % 5 == 0
    clf = EmbeddingClassifier(HeadRecipe(epochs=30))
    held = clf.train(
        vectors, labels, class_idol_ids=list(range(8)), class_names=list("abcdefgh"), validation=validation
    )
    assert held.figures["top1"] == 1.0 and held.max_distance_measured
    strangers = np.concatenate([around(c, 10, 99 + i) for i, c in enumerate(centres(4, seed=7))])
    known = np.concatenate([around(centres(8)[p], 5, 500 + p) for p in range(8)])
    guess = clf.predict_vectors(np.concatenate([known, strangers]))
    assert (guess.probabilities[:40].argmax(axis=1) == np.repeat(np.arange(8), 5)).all()
    assert not guess.unknown[:40].any()
    assert guess.unknown[40:].all()  # the softmax names someone; the distance says no one
    assert np.allclose(guess.probabilities.sum(axis=1), 1.0, atol=1e-4)


def test_the_threshold_is_chosen_for_the_false_accept_target_on_held_out_faces():
    # Two people close together: some held-out faces of one lie near the other.
    rng = np.random.default_rng(3)
    base = centres(1)[0]
    near = base + rng.normal(size=DIM).astype(np.float32) * 0.05
    vectors = np.concatenate([around(base, 200, 1, spread=0.04), around(near, 200, 2, spread=0.04)])
    labels = np.repeat([0, 1], 200)
    validation = np.arange(400) % 2 == 0
    for target in (0.01, 0.2):
        clf = EmbeddingClassifier(HeadRecipe(epochs=5, false_accept=target, max_distance_bounds=(0.0, 4.0)))
        held = clf.train(vectors, labels, class_idol_ids=[10, 11], class_names=["a", "b"], validation=validation)
        # Each held-out face plays a stranger: its distance to the other person's nearest face.
        nearest = nearest_by_class(vectors[validation], vectors[~validation], labels[~validation], 2)
        as_stranger = nearest[np.arange(200), 1 - labels[validation]]
        assert held.max_distance == pytest.approx(np.quantile(as_stranger, target), abs=1e-3)
        assert held.figures["strangers_accepted"] == pytest.approx(target, abs=0.02)
    # Too few held-out faces to measure: the embedder's own distance.
    small = EmbeddingClassifier(HeadRecipe(epochs=5))
    held = small.train(
        vectors[:20:2],
        labels[:20:2],
        class_idol_ids=[10, 11],
        class_names=["a", "b"],
        validation=np.arange(10) % 2 == 0,
    )
    assert not held.max_distance_measured and held.max_distance == 0.55


def test_the_temperature_makes_probabilities_honest():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(4000, 5))
    # Labels drawn as if the true probabilities were the softmax at temperature 2.
    truth = softmax(logits, 2.0)
    labels = np.array([rng.choice(5, p=p / p.sum()) for p in truth])
    assert fit_temperature(logits, labels) == pytest.approx(2.0, rel=0.1)
    assert fit_temperature(logits * 0.5, labels) == pytest.approx(1.0, rel=0.1)


def test_saved_and_loaded_it_predicts_the_same_and_a_damaged_folder_is_refused(tmp_path):
    _, vectors, labels = synthetic(3, 20)
    clf = EmbeddingClassifier(HeadRecipe(epochs=5), embedder="dlib", model_hash="abc")
    clf.train(
        vectors,
        labels,
        class_idol_ids=[5, 6, None],
        class_names=["a", "b", "other"],
        validation=np.zeros(60, bool),
        other_class=2,
    )
    clf.save(tmp_path / "m")
    again = EmbeddingClassifier.load(tmp_path / "m")
    a, b = clf.predict_vectors(vectors[:7]), again.predict_vectors(vectors[:7])
    assert np.allclose(a.probabilities, b.probabilities, atol=1e-6) and (a.unknown == b.unknown).all()
    assert again.class_idol_ids == [5, 6, None] and again.other_class == 2 and again.model_hash == "abc"
    # "Other" faces are no idol's gallery: their own faces are unknown.
    assert again.predict_vectors(vectors[40:45]).unknown.all()
    (tmp_path / "m" / "gallery.npz").write_bytes(b"not a zip")
    with pytest.raises(IncompatibleModel):
        EmbeddingClassifier.load(tmp_path / "m")


def test_rejections_train_as_not_her():
    _, vectors, labels = synthetic(2, 20)
    # A face between the two, said to be "not idol 0" many times over.
    between = np.repeat(((vectors[0] + vectors[20]) / 2)[None, :], 20, axis=0)
    plain = EmbeddingClassifier(HeadRecipe(epochs=20))
    plain.train(vectors, labels, class_idol_ids=[1, 2], class_names=["a", "b"], validation=np.zeros(40, bool))
    taught = EmbeddingClassifier(HeadRecipe(epochs=20))
    rows = np.zeros((20, 2), dtype=np.float32)
    rows[:, 0] = 1.0
    taught.train(
        vectors,
        labels,
        class_idol_ids=[1, 2],
        class_names=["a", "b"],
        validation=np.zeros(40, bool),
        negatives=(between, rows),
    )
    p_plain = plain.predict_vectors(between[:1]).probabilities[0, 0]
    p_taught = taught.predict_vectors(between[:1]).probabilities[0, 0]
    assert p_taught < p_plain - 0.2


# --- the product: runs, versions, suggestions -------------------------------------------------


@pytest.fixture
def train(django_capture_on_commit_callbacks):
    """Request an embedding training and run it as the worker does, with what it queues on
    commit (the new model's suggestions)."""

    def run_it() -> TrainingRun:
        with django_capture_on_commit_callbacks(execute=True):
            run = runs.training_request(recognizer="embedding")
        run.refresh_from_db()
        if run.status == TrainingRun.Status.QUEUED:
            with django_capture_on_commit_callbacks(execute=True):
                tasks.train(run.pk)
            run.refresh_from_db()
        return run

    return run_it


def people_with_faces(n_people: int, per_person: int, seed: int = 0):
    c = centres(n_people, seed)
    idols = [make_idol(f"idol {p}") for p in range(n_people)]
    faces = []
    for p, idol in enumerate(idols):
        group = [make_embedded_face(*v) for v in around(c[p], per_person, seed * 100 + p)]
        faces_label(faces=group, idol=idol)
        faces.append(group)
    return c, idols, faces


def test_an_embedding_training_makes_an_active_model_that_suggests_every_face(train):
    c, idols, _ = people_with_faces(3, 6)
    new = [make_embedded_face(*v) for v in around(c[1], 3, 77)]
    stranger = make_embedded_face(*around(centres(1, seed=42)[0], 1, 5)[0])
    run = train()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = run.model_version
    assert version.is_active and version.kind == "embedding" and version.model_hash
    assert version.input_size == 0 and len(version.class_idol_ids) == 3
    assert run.metrics["recognizer"] == "embedding" and "open_set" in run.metrics
    rows = {s.face_id: s for s in Suggestion.objects.filter(model_version=version)}
    for face in new:
        assert rows[face.pk].idol_id == idols[1].pk and not rows[face.pk].unknown
        assert rows[face.pk].probability > 0.5
    assert rows[stranger.pk].unknown
    # Nothing changed: the next request finishes at once and keeps the model.
    again = train()
    assert again.note == "nothing changed since the last model" and ModelVersion.objects.count() == 1


def test_one_labeled_face_an_idol_is_enough(train):
    c = centres(3)
    idols = [make_idol(f"idol {p}") for p in range(3)]
    for p, idol in enumerate(idols):
        face_label(face=make_embedded_face(*around(c[p], 1, p)[0]), idol=idol)
    probe = make_embedded_face(*around(c[2], 1, 50)[0])
    run = train()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    row = Suggestion.objects.get(face=probe)
    assert row.idol_id == idols[2].pk and not row.unknown


def test_faces_without_a_vector_wait_for_it_and_are_suggested_when_it_comes(train, django_capture_on_commit_callbacks):
    from faces.models import FaceEmbedding
    from faces.services.embeddings import _store
    from faces.signals import faces_embedded

    c, idols, _ = people_with_faces(2, 5)
    assert train().model_version.is_active
    from tests.factories import make_face

    late = make_face()
    assert not Suggestion.objects.filter(face=late).exists()
    from faces.selectors import current_model

    name, model_hash = current_model()
    with django_capture_on_commit_callbacks(execute=True):
        stored = _store(embedder=name, model_hash=model_hash, vectors={late.pk: around(c[0], 1, 9)[0]}, errors={})
        faces_embedded.send(sender=FaceEmbedding, face_ids=stored, embedder=name, model_hash=model_hash)
    assert Suggestion.objects.get(face=late).idol_id == idols[0].pk


def test_new_labels_retrain_it_at_once_and_a_burst_makes_one_training(auto_retrain):
    c = centres(3)
    idols = [make_idol(f"idol {p}") for p in range(3)]
    faces = [[make_embedded_face(*v) for v in around(c[p], 4, p)] for p in range(3)]
    with auto_retrain():
        face_label(face=faces[0][0], idol=idols[0])
    assert not TrainingRun.objects.exists()  # one idol: nothing to tell apart yet
    with auto_retrain(), transaction.atomic():
        for p in (0, 1):
            for face in faces[p]:
                face_label(face=face, idol=idols[p])
    assert TrainingRun.objects.count() == 1  # eight labels in one go: one training
    first = ModelVersion.objects.get(is_active=True)
    assert first.kind == "embedding" and len(first.class_idol_ids) == 2
    with auto_retrain():
        faces_label(faces=faces[2][:1], idol=idols[2])
    newest = ModelVersion.objects.get(is_active=True)
    assert newest.pk != first.pk and idols[2].pk in newest.class_idol_ids
    suggestion = Suggestion.objects.get(face=faces[2][1], model_version=newest)
    assert suggestion.idol_id == idols[2].pk
    # "Not her" retrains it too.
    with auto_retrain():
        suggestions_reject(faces=[faces[2][2]], idol=idols[2])
    assert TrainingRun.objects.count() == 3
    assert TrainingRun.objects.first().reason == "1 rejection(s)"


def test_a_queued_training_absorbs_the_changes_and_a_running_one_gets_one_successor(monkeypatch):
    monkeypatch.setattr(runs, "_enqueue", lambda *a, **k: None)
    first = runs.training_request(recognizer="embedding")
    assert runs.training_request(recognizer="embedding").pk == first.pk
    TrainingRun.objects.filter(pk=first.pk).update(status="running")
    second = runs.training_request(recognizer="embedding")
    assert second.pk != first.pk and runs.training_request(recognizer="embedding").pk == second.pk
    # A network training runs beside them: each recognizer has its own slot.
    network = runs.training_request(recognizer="network")
    TrainingRun.objects.filter(pk=network.pk).update(status="running")
    assert TrainingRun.objects.filter(status="running").count() == 2


def test_a_queued_training_waits_for_the_running_one(monkeypatch, settings):
    people_with_faces(2, 4)
    monkeypatch.setattr(runs, "_enqueue", lambda *a, **k: None)
    monkeypatch.setattr(runs, "EMBEDDING_WAIT_SECONDS", 1.0)
    busy = runs.training_request(recognizer="embedding")
    TrainingRun.objects.filter(pk=busy.pk).update(status="running")
    waiting = runs.training_request(recognizer="embedding")
    tasks.train(waiting.pk)
    waiting.refresh_from_db()
    assert waiting.status == TrainingRun.Status.FAILED and "was running" in waiting.error
    TrainingRun.objects.filter(pk=busy.pk).update(status="succeeded")
    third = runs.training_request(recognizer="embedding")
    tasks.train(third.pk)
    third.refresh_from_db()
    assert third.status == TrainingRun.Status.SUCCEEDED


def test_merged_idols_leave_it_and_graduated_ones_stay(train):
    from labeling.services import idol_merge, idol_soft_delete

    _, idols, _ = people_with_faces(3, 4)
    idol_soft_delete(idol=idols[0])  # graduated
    idol_merge(keep=idols[1], drop=idols[2])
    run = train()
    classes = run.model_version.class_idol_ids
    assert idols[0].pk in classes and idols[1].pk in classes and idols[2].pk not in classes


def test_the_network_run_reports_both_recognizers_on_the_same_faces(
    settings, fake_classifier, django_capture_on_commit_callbacks
):
    """A network training also fits the embedding head on its training side; the better one on
    the same validation faces is used, and the run says which."""
    settings.IDOLSITE_MIN_FACES_PER_CLASS = 2
    people_with_faces(2, 12)
    run = runs.training_request(recognizer="network")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.train(run.pk)
    run.refresh_from_db()
    both = run.metrics["recognizers"]
    assert both["faces"] > 0 and both["embedding_top1"] == 1.0
    if both["chosen"] == "embedding":
        assert not run.model_version.is_active and "embedding recognizer was right" in run.note
        assert ModelVersion.objects.get(is_active=True).kind == "embedding"


def test_1000_idols_train_and_evaluate_within_a_minute_and_1_gib(tmp_path):
    import time
    import tracemalloc

    from classifier.ml.evaluation import evaluate
    from tests.classifier.test_evaluation_scale import evaluate_within_limits

    people = 1000
    c = centres(people, seed=5)
    rng = np.random.default_rng(5)
    per = 5
    vectors = (np.repeat(c, per, axis=0) + rng.normal(scale=0.03, size=(people * per, DIM))).astype(np.float32)
    labels = np.repeat(np.arange(people), per)
    validation = np.tile([False, False, False, False, True], people)
    started = time.monotonic()
    tracemalloc.start()
    clf = EmbeddingClassifier(HeadRecipe(epochs=30))
    held = clf.train(
        vectors,
        labels,
        class_idol_ids=list(range(people)),
        class_names=[f"アイドル{i}" for i in range(people)],
        validation=validation,
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.monotonic() - started < 60
    assert peak < 1 << 30
    assert held.figures["top1"] > 0.95
    metrics = evaluate_within_limits(
        held.probabilities, labels[validation], class_names=[f"アイドル{i}" for i in range(people)], folder=tmp_path
    )
    assert metrics["top1"] > 0.95
    assert evaluate is not None


def test_the_run_measures_the_few_shot_curve_and_the_page_says_which_recognizer(train, admin_client):
    people_with_faces(3, 40)
    run = train()
    curve = run.metrics["fewshot"]
    assert set(curve) == {"1", "3", "5", "10"} and all(0.9 <= v <= 1.0 for v in curve.values())
    assert (run.model_version.path / "fewshot.png").is_file()
    page = admin_client.get(f"/classifier/runs/{run.pk}/").content.decode()
    assert "Embedding recognizer" in page and str(run.metrics["open_set"]["max_distance"]) in page


def test_another_embedding_model_file_is_used_only_when_it_does_as_well_on_the_same_faces(train, monkeypatch):
    from faces import selectors
    from faces.models import FaceEmbedding

    _, _, faces = people_with_faces(4, 30)
    first = train().model_version
    assert first.is_active
    name, _ = selectors.current_model()
    rng = np.random.default_rng(0)

    def switch_to(model_hash: str, vectors_of) -> ModelVersion:
        FaceEmbedding.objects.bulk_create(
            [
                FaceEmbedding(face=f, embedder=name, model_hash=model_hash, dimension=DIM, vector=vectors_of(f))
                for group in faces
                for f in group
            ]
        )
        monkeypatch.setattr(selectors, "current_model", lambda embedder=None: (name, model_hash))
        return train().model_version

    # A model file whose vectors say nothing of who is who: measured worse, not used.
    noise = lambda f: rng.normal(size=DIM).astype("<f4").tobytes()  # noqa: E731
    worse = switch_to("0000000000000bad", noise)
    assert worse.model_hash == "0000000000000bad" and not worse.is_active
    assert worse.run.metrics["active_on_this_split"]["top1"] == 1.0
    assert ModelVersion.objects.get(is_active=True).pk == first.pk
    # One that does as well on the same faces replaces it.
    same = lambda f: bytes(FaceEmbedding.objects.get(face=f, model_hash=first.model_hash).vector)  # noqa: E731
    assert switch_to("000000000000600d", same).is_active


def test_an_idol_deleted_by_mistake_leaves_it_at_once_and_comes_back_when_restored(auto_retrain):
    from labeling.services import idol_restore, idol_soft_delete

    c = centres(3)
    idols = [make_idol(f"idol {p}") for p in range(3)]
    with auto_retrain():
        for p, idol in enumerate(idols):
            faces_label(faces=[make_embedded_face(*v) for v in around(c[p], 3, p)], idol=idol)
    assert idols[2].pk in ModelVersion.objects.get(is_active=True).class_idol_ids
    with auto_retrain():
        idol_soft_delete(idol=idols[2], reason="other")
    assert idols[2].pk not in ModelVersion.objects.get(is_active=True).class_idol_ids
    with auto_retrain():
        idol_restore(idol=idols[2])
    assert idols[2].pk in ModelVersion.objects.get(is_active=True).class_idol_ids


def test_a_held_out_face_of_an_idol_with_none_to_train_on_trains_instead_of_being_measured():
    _, vectors, labels = synthetic(3, 10)
    # Idol 2's only face is on the held-out side: no model could name her there.
    keep = np.r_[np.arange(20), 20]
    vectors, labels = vectors[keep], labels[keep]
    validation = np.zeros(21, dtype=bool)
    validation[[0, 1, 10, 11, 20]] = True
    clf = EmbeddingClassifier(HeadRecipe(epochs=10))
    held = clf.train(vectors, labels, class_idol_ids=[1, 2, 3], class_names=list("abc"), validation=validation)
    assert held.indices.tolist() == [0, 1, 10, 11]
    assert held.figures["top1"] == 1.0 and held.temperature < 20
    assert clf.predict_vectors(vectors[20:]).probabilities.argmax() == 2  # she is a class all the same


def test_strangers_are_no_confident_guess_on_the_review_page(train, admin_client):
    from classifier.selectors import Mode, suggestions_for

    c, _, _ = people_with_faces(2, 6)
    known = make_embedded_face(*around(c[0], 1, 31)[0])
    stranger = make_embedded_face(*around(centres(1, seed=77)[0], 1, 32)[0])
    train()
    confident = [row.face_id for row in suggestions_for(mode=Mode.CONFIDENT)]
    assert known.pk in confident and stranger.pk not in confident
    assert stranger.pk in [row.face_id for row in suggestions_for(mode=Mode.UNCERTAIN)]
    page = admin_client.get("/review/", {"mode": "uncertain"}).content.decode()
    assert 'class="badge warn unknown"' in page
