"""Similar faces: nearest neighbours on hand-made vectors, the distance limit, the faces left out,
and the index held in memory (topped up with new rows, loaded again for another model)."""

from __future__ import annotations

import numpy as np
import pytest

from faces import services
from faces.models import Face, FaceEmbedding
from faces.selectors import current_model
from faces.similarity import (
    NoEmbedding,
    Snapshot,
    get_index,
    min_distances,
    nearest,
    nearest_to_faces,
    similar_faces,
)
from tests.factories import image_bytes, make_face, make_photo

pytestmark = pytest.mark.django_db


def vec(*head: float) -> np.ndarray:
    """A 128-d vector starting with ``head``, zeros after."""
    out = np.zeros(128, dtype=np.float32)
    out[: len(head)] = head
    return out


def embed(face: Face, vector: np.ndarray, *, model: tuple[str, str] | None = None) -> FaceEmbedding:
    name, model_hash = model or current_model()
    return FaceEmbedding.objects.create(
        face=face, embedder=name, model_hash=model_hash, dimension=128, vector=vector.astype("<f4").tobytes()
    )


def face_at(*head: float, photo=None) -> Face:
    face = make_face(photo)
    embed(face, vec(*head))
    return face


def test_the_nearest_faces_come_first_with_their_euclidean_distance():
    query = face_at(0.0)
    far, near, middle = face_at(0.9), face_at(0.1), face_at(0.0, 0.3)
    found = similar_faces(face=query, k=3)
    assert [n.face_id for n in found] == [near.pk, middle.pk, far.pk]
    assert [n.distance for n in found] == pytest.approx([0.1, 0.3, 0.9], abs=1e-5)
    assert [n.face_id for n in similar_faces(face=query, k=1)] == [near.pk]


def test_vectors_that_are_not_unit_length_are_compared_by_distance_not_angle():
    query = face_at(1.0, 1.0)
    same_direction_far = face_at(2.0, 2.0)  # cosine 1, distance 1.41
    other_direction_near = face_at(1.0, 0.7)  # distance 0.3
    assert [n.face_id for n in similar_faces(face=query, k=2)] == [other_direction_near.pk, same_direction_far.pk]


def test_faces_farther_than_the_limit_are_left_out(settings):
    settings.IDOLSITE_SIMILAR_MAX_DISTANCE = 0.5
    her = face_at(0.0)
    close, _far = face_at(0.45), face_at(0.55)
    assert [n.face_id for n in nearest_to_faces(face_ids=[her.pk], k=10)] == [close.pk]
    assert [n.face_id for n in similar_faces(face=her, k=10, max_distance=0.3)] == []


def test_excluded_faces_and_faces_of_trashed_photos_are_left_out():
    query = face_at(0.0)
    excluded = face_at(0.05)
    Face.objects.filter(pk=excluded.pk).update(excluded=True, exclusion_reason=Face.ExclusionReason.NOT_A_FACE)
    trashed_photo = make_photo(data=image_bytes(200, 100))
    on_trashed = face_at(0.06, photo=trashed_photo)
    services.photo_trash(photo=trashed_photo)
    kept = [face_at(0.1 + i / 100) for i in range(3)]
    # Only two asked: the two ineligible nearer faces must not push the answer short.
    found = similar_faces(face=query, k=2)
    assert [n.face_id for n in found] == [kept[0].pk, kept[1].pk]
    assert on_trashed.pk not in [n.face_id for n in similar_faces(face=query, k=10)]


def test_many_ineligible_faces_before_the_eligible_ones_are_skipped_in_rounds():
    query = face_at(0.0)
    hidden = [face_at(0.01 + i / 1000) for i in range(40)]
    Face.objects.filter(pk__in=[f.pk for f in hidden]).update(excluded=True, exclusion_reason="not_face")
    wanted = face_at(0.5)
    assert [n.face_id for n in similar_faces(face=query, k=1)] == [wanted.pk]


def test_a_face_without_a_vector_is_a_conflict():
    face_at(0.0)
    with pytest.raises(NoEmbedding) as caught:
        similar_faces(face=make_face(), k=5)
    assert caught.value.code == "no_embeddings" and caught.value.status == 409


def test_several_query_faces_rank_by_the_nearest_of_them_and_leave_themselves_out():
    a, b = face_at(0.0), face_at(1.0)
    near_b, near_a = face_at(1.05), face_at(0.2)
    found = nearest_to_faces(face_ids=[a.pk, b.pk], k=10, max_distance=0.6)
    assert [(n.face_id, round(n.distance, 3)) for n in found] == [(near_b.pk, 0.05), (near_a.pk, 0.2)]


def test_the_index_takes_new_rows_without_loading_again():
    query = face_at(0.0)
    first = face_at(0.5)
    index = get_index()
    assert [n.face_id for n in similar_faces(face=query, k=5)] == [first.pk]
    assert index.loads == 1 and len(index) == 2
    newer = face_at(0.2)
    assert [n.face_id for n in similar_faces(face=query, k=5)] == [newer.pk, first.pk]
    assert index.loads == 1 and len(index) == 3


def test_a_late_vector_of_an_older_face_joins_the_index_in_order():
    query = face_at(0.0)
    older = make_face()  # no vector yet
    newer = face_at(0.4)
    assert [n.face_id for n in similar_faces(face=query, k=5)] == [newer.pk]
    embed(older, vec(0.1))
    assert [n.face_id for n in similar_faces(face=query, k=5)] == [older.pk, newer.pk]
    snapshot = get_index().snapshot()
    assert list(snapshot.ids) == sorted(snapshot.ids) and get_index().loads == 1


def test_another_model_file_loads_its_own_vectors(settings, tmp_path):
    query = face_at(0.0)
    old_near = face_at(0.1)
    assert [n.face_id for n in similar_faces(face=query, k=1)] == [old_near.pk]
    other = tmp_path / "taguchi.dat"
    other.write_bytes(b"another model")
    settings.IDOLSITE_EMBEDDER_MODEL = str(other)
    model = current_model()
    # The old model's vectors are never compared with the new one's.
    with pytest.raises(NoEmbedding):
        similar_faces(face=query, k=1)
    embed(query, vec(0.0), model=model)
    new_near = make_face()
    embed(new_near, vec(0.0, 0.2), model=model)
    assert [n.face_id for n in similar_faces(face=query, k=5)] == [new_near.pk]
    assert get_index().loads == 2 and get_index().model == model


def test_distances_in_chunks_equal_the_direct_computation():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(1000, 128)).astype(np.float32)
    snapshot = Snapshot(ids=np.arange(1, 1001), vectors=vectors, norms=np.einsum("ij,ij->i", vectors, vectors))
    queries = rng.normal(size=(3, 128)).astype(np.float32)
    direct = np.linalg.norm(vectors[:, None, :] - queries[None, :, :], axis=2).min(axis=1)
    assert min_distances(snapshot, queries, chunk_rows=97) == pytest.approx(direct, rel=1e-4)


def test_nearest_on_an_empty_index_is_empty():
    empty = Snapshot(ids=np.zeros(0, np.int64), vectors=np.zeros((0, 128), np.float32), norms=np.zeros(0, np.float32))
    assert nearest(empty, vec(0.0), k=5) == []


def test_a_face_whose_failed_embedding_is_retried_joins_the_index():
    from faces.services.embeddings import _store

    query = face_at(0.0)
    retried = make_face()
    name, model_hash = current_model()
    _store(embedder=name, model_hash=model_hash, vectors={}, errors={retried.pk: "the crop cannot be read"})
    assert [n.face_id for n in similar_faces(face=query, k=5)] == []
    _store(embedder=name, model_hash=model_hash, vectors={retried.pk: vec(0.3)}, errors={})
    assert [n.face_id for n in similar_faces(face=query, k=5)] == [retried.pk]
    assert get_index().loads == 1
