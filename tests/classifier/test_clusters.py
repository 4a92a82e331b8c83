from __future__ import annotations

import numpy as np
import pytest

from classifier import tasks
from classifier.models import FaceCluster
from classifier.services import clusters
from core.errors import DomainError
from labeling.models import FaceLabel, LabelEvent
from labeling.services import label_batch_undo
from tests.classifier.suggest_fixtures import faces_said

pytestmark = pytest.mark.django_db


def test_group_finds_obviously_similar_embeddings():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    vectors = np.concatenate([c + 0.05 * rng.normal(size=(5, 16)) for c in centres])
    lonely = rng.normal(size=(1, 16)) * 10
    groups = clusters.group(np.concatenate([vectors, lonely]), distance=0.3)
    assert sorted(sorted(g) for g in groups) == [list(range(0, 5)), list(range(5, 10)), list(range(10, 15))]
    assert clusters.group(vectors[:1], distance=0.3) == []


def _unknown_faces(scripted, embeddings):
    return faces_said(scripted["clf"], [([0.4, 0.3, 0.3], e) for e in embeddings])


def test_build_takes_unlabeled_unknown_faces_only_and_replaces_open_clusters(scripted):
    same = [[1.0, 0.01 * i, 0.0, 0.0] for i in range(3)]
    faces = _unknown_faces(scripted, same)
    known = faces_said(scripted["clf"], [([0.9, 0.05, 0.05], [1.0, 0.0, 0.0, 0.0])])
    tasks.suggest(scripted["version"].pk)
    (cluster,) = FaceCluster.objects.all()
    assert sorted(cluster.members.values_list("face_id", flat=True)) == [f.pk for f in faces]
    assert known[0].pk not in cluster.members.values_list("face_id", flat=True)
    assert len(clusters.clusters_build()) == 1 and FaceCluster.objects.count() == 1  # replaced, not piled up


def test_name_labels_the_whole_cluster_in_one_batch(scripted, user):
    faces = _unknown_faces(scripted, [[1.0, 0.01 * i, 0.0, 0.0] for i in range(3)])
    tasks.suggest(scripted["version"].pk)
    cluster = FaceCluster.objects.get()
    batch = clusters.cluster_name(cluster=cluster, idol=scripted["idols"][0], user=user)
    assert FaceLabel.objects.filter(idol=scripted["idols"][0]).count() == 3
    assert LabelEvent.objects.filter(batch=batch).count() == 3
    with pytest.raises(DomainError):
        clusters.cluster_name(cluster=cluster, idol=scripted["idols"][0])
    label_batch_undo(batch=batch, user=user)
    assert not FaceLabel.objects.exists()
    assert faces


def test_split_moves_picked_faces_or_clusters_finer(scripted, settings):
    settings.IDOLSITE_CLUSTER_DISTANCE = 0.5
    # Two tight pairs about 0.3 apart in cosine distance: one cluster at 0.5, two at 0.25.
    embeddings = [[1.0, 0.0, 0.0, 0.0], [1.0, 0.01, 0.0, 0.0], [0.7, 0.714, 0.0, 0.0], [0.7, 0.714, 0.01, 0.0]]
    faces = _unknown_faces(scripted, embeddings)
    tasks.suggest(scripted["version"].pk)
    cluster = FaceCluster.objects.get()
    with pytest.raises(DomainError, match="not all"):
        clusters.cluster_split(cluster=cluster, faces=[f.pk for f in faces])
    with pytest.raises(DomainError, match="not in cluster"):
        clusters.cluster_split(cluster=cluster, faces=[999999])
    finer = clusters.cluster_split(cluster=cluster)
    assert sorted(sorted(c.members.values_list("face_id", flat=True)) for c in finer) == [
        [faces[0].pk, faces[1].pk],
        [faces[2].pk, faces[3].pk],
    ]
    assert not FaceCluster.objects.filter(pk=cluster.pk).exists()
    kept, new = clusters.cluster_split(cluster=finer[0], faces=[finer[0].members.first().face_id])
    assert kept.members.count() == 1 and new.members.count() == 1 and new.parent_id == kept.pk
