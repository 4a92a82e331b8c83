"""Unknown faces grouped into "maybe the same person" clusters: built, named, split.

Unlabeled, visible faces whose best probability under the active model is below
``IDOLSITE_UNKNOWN_THRESHOLD`` (``Suggestion.unknown``) are clustered on their embeddings (the
layer before the softmax, stored by the suggest task) with scikit-learn's agglomerative
clustering: cosine distance, average linkage, cut at ``IDOLSITE_CLUSTER_DISTANCE``. Groups of
two or more faces become a :class:`FaceCluster`. A person names a whole cluster at once (one
label batch) or splits it: the faces they pick go to a new cluster, or, with none picked, the
cluster is clustered again at half the distance.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from classifier.models import FaceCluster, FaceClusterMember, ModelVersion, Suggestion
from classifier.services.common import User
from core.errors import DomainError
from faces.db import atomic_retrying
from faces.models import Face
from labeling.models import How, Idol


def group(vectors: Any, *, distance: float) -> list[list[int]]:
    """Indices of ``vectors`` grouped by agglomerative clustering on cosine distance; groups of
    at least two, biggest first."""
    import numpy as np
    from sklearn.cluster import AgglomerativeClustering

    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) < 2:
        return []
    labels = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance
    ).fit_predict(vectors)
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(int(label), []).append(index)
    return sorted((g for g in groups.values() if len(g) >= 2), key=lambda g: (-len(g), g[0]))


def _spread(vectors: Any) -> float:
    import numpy as np

    v = np.asarray(vectors, dtype=np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-8)
    centre = v.mean(axis=0)
    centre /= max(float(np.linalg.norm(centre)), 1e-8)
    return round(float(np.mean(1.0 - v @ centre)), 4)


def _create(version: ModelVersion, face_ids: list[int], vectors: Any, parent: FaceCluster | None = None) -> FaceCluster:
    cluster = FaceCluster.objects.create(model_version=version, parent=parent, spread=_spread(vectors))
    FaceClusterMember.objects.bulk_create([FaceClusterMember(cluster=cluster, face_id=f) for f in face_ids])
    return cluster


def _embeddings(version: ModelVersion, face_ids: list[int] | None = None) -> tuple[list[int], Any]:
    import numpy as np

    rows = Suggestion.objects.filter(
        model_version=version,
        embedding__isnull=False,
        face__excluded=False,
        face__photo__trashed_at__isnull=True,
        face__labels__isnull=True,
    )
    rows = rows.filter(face_id__in=face_ids) if face_ids is not None else rows.filter(unknown=True)
    pairs = list(rows.order_by("face_id").values_list("face_id", "embedding")[: settings.IDOLSITE_CLUSTER_MAX_FACES])
    if not pairs:
        return [], np.zeros((0, 0), dtype=np.float32)
    return [f for f, _ in pairs], np.stack([np.frombuffer(bytes(e), dtype=np.float16) for _, e in pairs])


@transaction.atomic
def clusters_build(*, version: ModelVersion | None = None, distance: float | None = None) -> list[FaceCluster]:
    """(Re)build the open clusters of ``version`` (the active model by default); open clusters
    of every version are replaced, named ones stay as history. Safe to run twice."""
    version = version or ModelVersion.objects.active()
    if version is None:
        return []
    distance = settings.IDOLSITE_CLUSTER_DISTANCE if distance is None else distance
    FaceCluster.objects.filter(named_at__isnull=True).delete()
    face_ids, vectors = _embeddings(version)
    return [_create(version, [face_ids[i] for i in g], vectors[g]) for g in group(vectors, distance=distance)]


def _members(cluster: FaceCluster) -> list[int]:
    return list(cluster.members.order_by("face_id").values_list("face_id", flat=True))


@atomic_retrying
def cluster_name(*, cluster: FaceCluster, idol: Idol, user: User = None) -> uuid.UUID:
    """Label every face of the cluster still unlabeled and visible with ``idol`` (one batch,
    undone together); the cluster is closed, named."""
    from labeling.services import faces_label

    cluster = FaceCluster.objects.select_for_update().get(pk=cluster.pk)
    if cluster.named_at is not None:
        raise DomainError(f"cluster {cluster.pk} is already named", code="named")
    if not Idol.all_objects.get(pk=idol.pk).is_recognizable:
        raise DomainError(f"{idol.name} has left; choose an active idol", code="deleted_idol", field="idol")
    faces = list(Face.objects.visible().filter(pk__in=_members(cluster)))
    if not faces:
        raise DomainError(f"cluster {cluster.pk} has no face left to name", code="empty")
    batch = uuid.uuid4()
    faces_label(faces=faces, idol=idol, user=user, how=How.MANUAL, batch=batch)
    FaceCluster.objects.filter(pk=cluster.pk).update(named_idol=idol, named_at=timezone.now())
    return batch


@transaction.atomic
def cluster_split(
    *, cluster: FaceCluster, faces: Iterable[Face | int] | None = None, user: User = None
) -> list[FaceCluster]:
    """Split a cluster: the given faces move to a new cluster; without faces, the cluster is
    clustered again at half the distance (faces left alone by that drop out). Returns the
    clusters that replace it (the old one too when it keeps faces)."""
    cluster = FaceCluster.objects.select_for_update().get(pk=cluster.pk)
    if cluster.named_at is not None:
        raise DomainError(f"cluster {cluster.pk} is already named", code="named")
    members = _members(cluster)
    if faces:
        picked = list(dict.fromkeys(f if isinstance(f, int) else f.pk for f in faces))
        strangers = sorted(set(picked) - set(members))
        if strangers:
            raise DomainError(f"faces not in cluster {cluster.pk}: {strangers}", code="invalid", field="faces")
        if len(picked) == len(members):
            raise DomainError("pick some of the faces, not all of them", code="invalid", field="faces")
        new = FaceCluster.objects.create(model_version=cluster.model_version, parent=cluster, spread=cluster.spread)
        FaceClusterMember.objects.filter(cluster=cluster, face_id__in=picked).update(cluster=new)
        return [cluster, new]
    face_ids, vectors = _embeddings(cluster.model_version, members)
    groups = group(vectors, distance=settings.IDOLSITE_CLUSTER_DISTANCE / 2)
    created = [_create(cluster.model_version, [face_ids[i] for i in g], vectors[g], parent=None) for g in groups]
    cluster.delete()
    return created
