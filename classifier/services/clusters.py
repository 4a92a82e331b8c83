"""Unknown faces grouped into "maybe the same person" clusters: built, named, split.

The faces clustered are the visible, unlabeled ones with a vector of the current embedder
(``faces.FaceEmbedding``, e.g. dlib's 128-d) that no suggestion places well: no open suggestion
of the active model, or one that says unknown or is under ``IDOLSITE_UNKNOWN_THRESHOLD``; with
no model at all, every unlabeled face. No trained model is needed: the pretrained embedding puts
one person's faces within about 0.5 of each other (Euclidean). scikit-learn's HDBSCAN groups
them, each group cut by average linkage at ``IDOLSITE_CLUSTER_DISTANCE`` (``group``): groups of
at least ``IDOLSITE_CLUSTER_MIN_SIZE`` faces become a :class:`FaceCluster`, the faces in no
group (strangers seen once) stay out.

A rebuild (``clusters_build``; queued by ``clusters_build_soon`` at most once a minute) replaces
the open clusters nobody touched. What people did stays: a named cluster stays named, and the
clusters a person split (and their faces) are kept out of the rebuild. A person names a whole
cluster at once (one label batch) or splits it: the faces they pick go to a new cluster, or, with
none picked, the cluster is cut in two by likeness.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from classifier.models import FaceCluster, FaceClusterMember, ModelVersion, Suggestion
from classifier.services.common import User
from core.errors import DomainError
from faces.db import atomic_retrying
from faces.models import Face, FaceEmbedding
from faces.selectors import current_model, embedding_matrix
from labeling.models import How, Idol

log = logging.getLogger(__name__)

# The schedule row that runs ``classifier.tasks.build_clusters`` once (migration 0005 creates it).
SCHEDULE_NAME = "classifier: build clusters"
# New embeddings come in batches of 64 from many tasks: one rebuild a minute gathers them.
DEBOUNCE = timedelta(seconds=60)
# Two rebuilds at once would both replace the open clusters and leave duplicates.
_LOCK_KEY = 0x1D01C105
# The most vectors one average-linkage cut takes: its pairwise distances (N x N / 2 doubles,
# 16 MB at 2,000) must stay small. HDBSCAN itself needs no such matrix.
CUT_MAX = 2000


def _cut(vectors: Any, *, distance: float, min_size: int) -> list[Any]:
    """Average-linkage agglomerative groups of ``vectors`` (Euclidean) cut at ``distance``, of at
    least ``min_size``: index arrays. Pairwise distances: call it on bounded sets only."""
    import numpy as np
    from sklearn.cluster import AgglomerativeClustering

    if len(vectors) < max(2, min_size):
        return []
    labels = AgglomerativeClustering(n_clusters=None, linkage="average", distance_threshold=distance).fit_predict(
        vectors
    )
    parts = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    return [p for p in parts if len(p) >= min_size]


def group(vectors: Any, *, min_size: int | None = None, distance: float | None = None) -> list[list[int]]:
    """Indices of ``vectors`` grouped as likely one person each, biggest first; vectors in no
    group (strangers seen once or twice) are left out.

    HDBSCAN finds the dense groups without a distance to tune; each is then cut by average
    linkage at ``distance`` (``IDOLSITE_CLUSTER_DISTANCE``), which splits the rare group that
    chains two people. HDBSCAN never makes one group of everything, so a lone person would stay
    out: the faces it leaves out are grouped by average linkage at 5/6 of the distance. On the
    shared faces this keeps 99.9% of the clustered faces with their own person and clusters
    about 90% of them (HDBSCAN alone: 98.5%; average linkage alone at 0.5: 100% but 60%)."""
    import numpy as np
    from sklearn.cluster import HDBSCAN

    min_size = max(2, settings.IDOLSITE_CLUSTER_MIN_SIZE if min_size is None else min_size)
    distance = settings.IDOLSITE_CLUSTER_DISTANCE if distance is None else distance
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) < min_size:
        return []
    # A tree index (never "brute"): memory grows with N, not with N x N.
    dense = HDBSCAN(
        min_cluster_size=min_size, min_samples=1, metric="euclidean", algorithm="kd_tree", copy=True
    ).fit_predict(vectors)
    groups: list[Any] = []
    for label in np.unique(dense[dense >= 0]):
        members = np.flatnonzero(dense == label)
        if len(members) > CUT_MAX:  # one person seen very often: too big to cut, and rarely mixed
            groups.append(members)
            continue
        groups += [members[part] for part in _cut(vectors[members], distance=distance, min_size=min_size)]
    left = np.flatnonzero(dense < 0)[-CUT_MAX:]
    groups += [left[part] for part in _cut(vectors[left], distance=distance * 5 / 6, min_size=min_size)]
    return sorted((sorted(int(i) for i in g) for g in groups), key=lambda g: (-len(g), g[0]))


def halves(vectors: Any) -> list[list[int]]:
    """``vectors`` cut in two (a split) by average-linkage agglomerative clustering, or k-means
    past ``CUT_MAX`` vectors (no pairwise distances); a half of one face is left out."""
    import numpy as np
    from sklearn.cluster import AgglomerativeClustering, KMeans

    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) < 3:
        return []
    if len(vectors) > CUT_MAX:
        labels = KMeans(n_clusters=2, n_init=3, random_state=0).fit_predict(vectors)
    else:
        labels = AgglomerativeClustering(n_clusters=2, linkage="average").fit_predict(vectors)
    parts = [[i for i, label in enumerate(labels) if label == side] for side in (0, 1)]
    return sorted((p for p in parts if len(p) >= 2), key=lambda g: (-len(g), g[0]))


def _spread(vectors: Any) -> float:
    """Mean Euclidean distance of the vectors to their centre."""
    import numpy as np

    v = np.asarray(vectors, dtype=np.float32)
    return round(float(np.linalg.norm(v - v.mean(axis=0), axis=1).mean()), 4)


def _create(
    face_ids: list[int], vectors: Any, *, model: tuple[str, str], parent: FaceCluster | None = None, split: bool = False
) -> FaceCluster:
    cluster = FaceCluster.objects.create(
        embedder=model[0],
        model_hash=model[1],
        parent=parent,
        spread=_spread(vectors),
        split_at=timezone.now() if split else None,
    )
    FaceClusterMember.objects.bulk_create([FaceClusterMember(cluster=cluster, face_id=f) for f in face_ids])
    return cluster


def cluster_candidates() -> Any:
    """Faces to cluster (a queryset): visible, unlabeled, not kept in a cluster a person split,
    with a vector of the current embedder, and placed well by no open suggestion of the active
    model (with no model, every such face)."""
    name, model_hash = current_model()
    faces = (
        Face.objects.visible()
        .filter(labels__isnull=True)
        .filter(pk__in=FaceEmbedding.objects.of(embedder=name, model_hash=model_hash).computed().values("face_id"))
        .exclude(
            pk__in=FaceClusterMember.objects.filter(
                cluster__named_at__isnull=True, cluster__split_at__isnull=False
            ).values("face_id")
        )
    )
    version = ModelVersion.objects.active()
    if version is not None:
        placed = Suggestion.objects.pending().filter(
            model_version=version, unknown=False, probability__gte=settings.IDOLSITE_UNKNOWN_THRESHOLD
        )
        faces = faces.exclude(pk__in=placed.values("face_id"))
    return faces


def _newest(faces: Any, cap: int) -> Any:
    """The ``cap`` newest of ``faces`` (highest ids): the ones people are looking at now."""
    floor = list(faces.order_by("-pk").values_list("pk", flat=True)[cap - 1 : cap])
    return faces.filter(pk__gte=floor[0]) if floor else faces


def _lock() -> None:
    if connection.vendor == "postgresql":  # SQLite lets one writer in at a time anyway
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


@transaction.atomic
def clusters_build(*, max_faces: int | None = None) -> list[FaceCluster]:
    """Rebuild the open clusters from the embeddings of ``cluster_candidates()`` and return them.

    At most ``max_faces`` (``IDOLSITE_CLUSTER_MAX_FACES``) faces, the newest: HDBSCAN's memory
    grows with N, but its time about with N^1.9 (about a minute for 10,000 faces on 2 cores),
    and a task must end well within its timeout. Chunks would cut one person's faces apart;
    the older faces left out are still searchable as "similar faces".

    Clusters named or split by a person stay; an open cluster whose faces come out the same is
    kept as it is (its page link stays valid). Safe to run twice and beside itself."""
    import numpy as np

    from labeling.models import FaceLabel

    _lock()
    started = timezone.now()
    cap = settings.IDOLSITE_CLUSTER_MAX_FACES if max_faces is None else max_faces
    model = current_model()
    face_ids, vectors = embedding_matrix(_newest(cluster_candidates(), cap))
    groups = group(vectors)
    # Faces labeled or split off by a person while the groups were computed are theirs now.
    taken = set(FaceLabel.objects.filter(created_at__gte=started).values_list("face_id", flat=True))
    taken |= set(FaceClusterMember.objects.filter(cluster__split_at__gte=started).values_list("face_id", flat=True))
    if taken:
        min_size = max(2, settings.IDOLSITE_CLUSTER_MIN_SIZE)
        groups = [k for k in ([i for i in g if int(face_ids[i]) not in taken] for g in groups) if len(k) >= min_size]
    replaced = FaceCluster.objects.filter(named_at__isnull=True, split_at__isnull=True)
    old: dict[int, set[int]] = defaultdict(set)
    members_of = FaceClusterMember.objects.filter(cluster__in=replaced.filter(embedder=model[0], model_hash=model[1]))
    for cluster_id, face_id in members_of.values_list("cluster_id", "face_id"):
        old[cluster_id].add(face_id)
    unchanged = {frozenset(members): pk for pk, members in old.items()}
    kept: list[int] = []
    built: list[FaceCluster] = []
    for g in groups:
        members = [int(face_ids[i]) for i in g]
        pk = unchanged.get(frozenset(members))
        if pk is not None:
            kept.append(pk)
        else:
            built.append(_create(members, vectors[np.asarray(g)], model=model))
    replaced.exclude(pk__in=kept + [c.pk for c in built]).delete()
    found = list(FaceCluster.objects.filter(pk__in=kept)) + built
    log.info("clusters: %s faces, %s clusters (%s unchanged)", len(face_ids), len(found), len(kept))
    return found


def clusters_build_soon(*, now: bool = False) -> bool:
    """Queue a rebuild in a minute unless one is queued already (call it on commit); ``now``:
    at the scheduler's next tick, whether queued or not. Returns whether this call queued it.

    A schedule row armed with a conditional UPDATE, so that any number of processes (web, every
    worker) queue one rebuild between them, and the faces embedded meanwhile are in it."""
    from django_q.models import Schedule

    row = Schedule.objects.filter(name=SCHEDULE_NAME)
    when = timezone.now() + (timedelta(0) if now else DEBOUNCE)
    armed = (row if now else row.filter(repeats=0)).update(repeats=1, next_run=when)
    if armed or row.exists():
        return bool(armed)
    # The row was deleted (by hand, in the admin): bring it back, armed.
    Schedule.objects.create(
        name=SCHEDULE_NAME,
        func="classifier.tasks.build_clusters",
        schedule_type=Schedule.ONCE,
        repeats=1,
        next_run=when,
    )
    return True


def on_faces_embedded(sender: Any, **kwargs: Any) -> None:
    """Receiver of ``faces.signals.faces_embedded``: new vectors, new clusters (debounced)."""
    transaction.on_commit(clusters_build_soon)


def _members(cluster: FaceCluster) -> list[int]:
    return list(cluster.members.order_by("face_id").values_list("face_id", flat=True))


@atomic_retrying
def cluster_name(*, cluster: FaceCluster, idol: Idol, user: User = None) -> uuid.UUID:
    """Label every face of the cluster still unlabeled and visible with ``idol`` (one batch,
    undone together); the cluster is closed, named."""
    from labeling.services import faces_label

    cluster = FaceCluster.objects.select_for_update().get(pk=cluster.pk)
    if cluster.named_at is not None:
        raise DomainError(gettext("cluster %(id)s is already named") % {"id": cluster.pk}, code="named")
    if not Idol.all_objects.get(pk=idol.pk).is_recognizable:
        raise DomainError(
            gettext("%(name)s has left; choose an active idol") % {"name": idol.name}, code="deleted_idol", field="idol"
        )
    faces = list(Face.objects.visible().filter(pk__in=_members(cluster)))
    if not faces:
        raise DomainError(gettext("cluster %(id)s has no face left to name") % {"id": cluster.pk}, code="empty")
    batch = uuid.uuid4()
    faces_label(faces=faces, idol=idol, user=user, how=How.MANUAL, batch=batch)
    FaceCluster.objects.filter(pk=cluster.pk).update(named_idol=idol, named_at=timezone.now())
    return batch


@transaction.atomic
def cluster_split(
    *, cluster: FaceCluster, faces: Iterable[Face | int] | None = None, user: User = None
) -> list[FaceCluster]:
    """Split a cluster: the given faces move to a new cluster; without faces, the cluster is cut
    in two by likeness (a half of one face drops out). The clusters that replace it (the old one
    too when it keeps faces) are a person's doing: rebuilds keep them and their faces."""
    cluster = FaceCluster.objects.select_for_update().get(pk=cluster.pk)
    if cluster.named_at is not None:
        raise DomainError(gettext("cluster %(id)s is already named") % {"id": cluster.pk}, code="named")
    members = _members(cluster)
    now = timezone.now()
    if faces:
        picked = list(dict.fromkeys(f if isinstance(f, int) else f.pk for f in faces))
        strangers = sorted(set(picked) - set(members))
        if strangers:
            raise DomainError(
                gettext("faces not in cluster %(id)s: %(ids)s") % {"id": cluster.pk, "ids": strangers},
                code="invalid",
                field="faces",
            )
        if len(picked) == len(members):
            raise DomainError(gettext("pick some of the faces, not all of them"), code="invalid", field="faces")
        new = FaceCluster.objects.create(
            embedder=cluster.embedder,
            model_hash=cluster.model_hash,
            model_version=cluster.model_version,
            parent=cluster,
            spread=cluster.spread,
            split_at=now,
        )
        FaceClusterMember.objects.filter(cluster=cluster, face_id__in=picked).update(cluster=new)
        FaceCluster.objects.filter(pk=cluster.pk).update(split_at=now)
        return [cluster, new]
    model = current_model()
    face_ids, vectors = embedding_matrix(Face.objects.filter(pk__in=members))
    if len(face_ids) < 3:
        raise DomainError(
            gettext("cluster %(id)s has too few faces with an embedding to split by itself: pick the faces")
            % {"id": cluster.pk},
            code="invalid",
        )
    created = [_create([int(face_ids[i]) for i in g], vectors[g], model=model, split=True) for g in halves(vectors)]
    cluster.delete()
    return created
