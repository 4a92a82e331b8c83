"""Clusters of unknown faces from the face embeddings: grouping, which faces, what people did
stays, the debounced task, the cap, and dlib's real vectors of the shared faces."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from classifier import tasks
from classifier.models import FaceCluster, ModelVersion
from classifier.services import clusters
from core.errors import DomainError
from faces.models import Face, FaceEmbedding
from faces.selectors import current_model
from faces.services import photo_trash
from faces.signals import faces_embedded
from labeling.models import FaceLabel, LabelEvent
from labeling.roles import LABELER, VIEWER, assign_role
from labeling.services import face_exclude, face_label, label_batch_undo
from tests.conftest import SHARED_FACES, needs_shared_faces
from tests.factories import make_embedded_face, make_face, make_idol

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(django_user_model):
    u = django_user_model.objects.create_user(username="viewer", password="pw-viewer-1")
    assign_role(u, VIEWER)
    return u


@pytest.fixture
def labeler(django_user_model):
    u = django_user_model.objects.create_user(username="labeler2", password="pw-labeler-2")
    assign_role(u, LABELER)
    return u


def _point(rng, axis: int, spread: float = 0.03, shift: float = 0.0) -> list[float]:
    """A dlib-like vector near the unit vector on ``axis`` (moved by ``shift`` along the last
    axis): one person's faces lie about 0.1-0.2 apart, two people's about 1.4."""
    head = rng.normal(scale=spread, size=8)
    head[axis] += 1.0
    head[-1] += shift
    return head.tolist()


def _faces(rng, axis: int, n: int) -> list:
    return [make_embedded_face(*_point(rng, axis)) for _ in range(n)]


def _members(cluster: FaceCluster) -> list[int]:
    return sorted(cluster.members.values_list("face_id", flat=True))


def _groups() -> list[list[int]]:
    return sorted(_members(c) for c in FaceCluster.objects.filter(named_at__isnull=True))


# --- grouping ------------------------------------------------------------------------------------


def test_group_finds_two_people_and_leaves_the_strangers_out():
    rng = np.random.default_rng(0)
    a = [_point(rng, 0) for _ in range(6)]
    b = [_point(rng, 1) for _ in range(5)]
    strangers = [_point(rng, axis) for axis in (2, 3, 4)]  # one face each, 1.4 from everyone
    groups = clusters.group(np.asarray(a + b + strangers), min_size=3)
    assert groups == [list(range(0, 6)), list(range(6, 11))]


def test_group_finds_a_lone_person_and_needs_min_size():
    rng = np.random.default_rng(1)
    one = np.asarray([_point(rng, 0) for _ in range(4)])
    assert clusters.group(one, min_size=3) == [[0, 1, 2, 3]]
    assert clusters.group(one, min_size=5) == []
    assert clusters.group(one[:2], min_size=3) == []


def test_group_cuts_a_chain_of_two_people_at_the_distance():
    # Two people joined by faces in between: density alone may chain them, the cut does not.
    rng = np.random.default_rng(2)
    a = [_point(rng, 0, 0.01) for _ in range(5)]
    b = [_point(rng, 0, 0.01, shift=0.9) for _ in range(5)]
    groups = clusters.group(np.asarray(a + b), min_size=3, distance=0.6)
    assert sorted(groups) == [list(range(0, 5)), list(range(5, 10))]


# --- which faces -----------------------------------------------------------------------------------


def test_clusters_are_built_with_no_model_at_all_from_the_face_embeddings():
    assert not ModelVersion.objects.exists()
    rng = np.random.default_rng(3)
    a, b = _faces(rng, 0, 4), _faces(rng, 1, 3)
    loners = [make_embedded_face(*_point(rng, axis)) for axis in (2, 3)]
    labeled, excluded, trashed = _faces(rng, 0, 3)
    face_label(face=labeled, idol=make_idol())
    face_exclude(face=excluded, reason=Face.ExclusionReason.NOT_A_FACE)
    photo_trash(photo=trashed.photo)
    make_face()  # no vector yet: left out, not an error
    built = clusters.clusters_build()
    assert sorted(_members(c) for c in built) == sorted([sorted(f.pk for f in a), sorted(f.pk for f in b)])
    name, model_hash = current_model()
    assert {(c.embedder, c.model_hash, c.model_version_id) for c in built} == {(name, model_hash, None)}
    assert not {f.pk for f in loners} & {m for c in built for m in _members(c)}
    # Nothing changed: the same clusters stay (a link to one stays valid), none piled up.
    again = clusters.clusters_build()
    assert sorted(c.pk for c in again) == sorted(c.pk for c in built) and FaceCluster.objects.count() == 2


def test_with_a_model_only_faces_it_places_badly_are_clustered(scripted, settings):
    settings.IDOLSITE_UNKNOWN_THRESHOLD = 0.5
    clf, version = scripted["clf"], scripted["version"]
    rng = np.random.default_rng(4)
    faces = _faces(rng, 0, 8)
    unknown, placed, weak, unsuggested = faces[:2], faces[2:4], faces[4:6], faces[6:]
    for face in unknown:
        clf.say(face, [0.4, 0.3, 0.3])
    for face in placed:
        clf.say(face, [0.9, 0.05, 0.05])
    for face in weak:
        clf.say(face, [0.6, 0.2, 0.2])
    tasks.suggest(version.pk, face_ids=[f.pk for f in faces[:6]])
    assert _groups() == [] and _schedule().repeats == 1  # the suggest task queues a build
    clusters.clusters_build()
    assert _groups() == [sorted(f.pk for f in unknown + unsuggested)]
    settings.IDOLSITE_UNKNOWN_THRESHOLD = 0.7  # now the faces at 0.6 are placed badly too
    clusters.clusters_build()
    assert _groups() == [sorted(f.pk for f in unknown + weak + unsuggested)]
    assert placed


# --- what people did stays -------------------------------------------------------------------------


def test_name_labels_the_whole_cluster_in_one_batch_and_stays_named(user):
    rng = np.random.default_rng(5)
    faces = _faces(rng, 0, 3)
    (cluster,) = clusters.clusters_build()
    idol = make_idol()
    batch = clusters.cluster_name(cluster=cluster, idol=idol, user=user)
    assert FaceLabel.objects.filter(idol=idol).count() == 3 and LabelEvent.objects.filter(batch=batch).count() == 3
    with pytest.raises(DomainError):
        clusters.cluster_name(cluster=cluster, idol=idol)
    assert clusters.clusters_build() == []
    cluster.refresh_from_db()
    assert cluster.named_idol == idol and _members(cluster) == sorted(f.pk for f in faces)
    # Undone: the faces are unknown again and clustered anew; the named cluster stays named.
    label_batch_undo(batch=batch, user=user)
    assert len(clusters.clusters_build()) == 1
    cluster.refresh_from_db()
    assert cluster.named_at is not None and FaceCluster.objects.count() == 2


def test_splits_by_hand_survive_rebuilds():
    rng = np.random.default_rng(6)
    a, b = _faces(rng, 0, 4), _faces(rng, 1, 4)
    first = FaceCluster.objects.get(pk=next(c.pk for c in clusters.clusters_build() if a[0].pk in _members(c)))
    with pytest.raises(DomainError, match="not all"):
        clusters.cluster_split(cluster=first, faces=a)
    with pytest.raises(DomainError, match="not in cluster"):
        clusters.cluster_split(cluster=first, faces=[999999])
    kept, new = clusters.cluster_split(cluster=first, faces=[a[0].pk])
    assert _members(new) == [a[0].pk] and new.parent_id == kept.pk
    more = _faces(rng, 0, 3)  # more faces of her arrive and the clusters are rebuilt
    clusters.clusters_build()
    kept.refresh_from_db()
    new.refresh_from_db()
    assert kept.split_at and new.split_at
    assert _members(kept) == sorted(f.pk for f in a[1:]) and _members(new) == [a[0].pk]
    assert _groups() == sorted([_members(kept), [a[0].pk], sorted(f.pk for f in b), sorted(f.pk for f in more)])


def test_split_without_picked_faces_cuts_the_cluster_in_two():
    rng = np.random.default_rng(7)
    near = _faces(rng, 0, 3)
    # Close enough for one cluster at a wide distance, two people by average linkage.
    far = [make_embedded_face(*_point(rng, 0, 0.01, shift=0.5)) for _ in range(3)]
    cluster = FaceCluster.objects.create()
    for face in near + far:
        cluster.members.create(face=face)
    halves = clusters.cluster_split(cluster=cluster)
    assert sorted(_members(c) for c in halves) == sorted([sorted(f.pk for f in near), sorted(f.pk for f in far)])
    assert all(c.split_at for c in halves) and not FaceCluster.objects.filter(pk=cluster.pk).exists()
    clusters.clusters_build()
    assert sorted(_members(c) for c in FaceCluster.objects.all()) == sorted(_members(c) for c in halves)
    small = FaceCluster.objects.create()
    small.members.create(face=near[0])
    small.members.create(face=make_face())  # no vector
    with pytest.raises(DomainError, match="pick the faces"):
        clusters.cluster_split(cluster=small)


def test_faces_a_person_takes_while_a_build_runs_stay_theirs(monkeypatch):
    rng = np.random.default_rng(11)
    faces = _faces(rng, 0, 4)
    real = clusters.group

    def meanwhile(vectors, **kwargs):
        face_label(face=faces[0], idol=make_idol())
        return real(vectors, **kwargs)

    monkeypatch.setattr(clusters, "group", meanwhile)
    assert [_members(c) for c in clusters.clusters_build()] == [sorted(f.pk for f in faces[1:])]


def test_a_big_cluster_is_cut_in_two_without_pairwise_distances(monkeypatch):
    monkeypatch.setattr(clusters, "CUT_MAX", 4)
    rng = np.random.default_rng(12)
    a, b = _faces(rng, 0, 3), _faces(rng, 1, 3)
    cluster = FaceCluster.objects.create()
    for face in a + b:
        cluster.members.create(face=face)
    halves = clusters.cluster_split(cluster=cluster)
    assert sorted(_members(c) for c in halves) == sorted([sorted(f.pk for f in a), sorted(f.pk for f in b)])


# --- when it runs ------------------------------------------------------------------------------------


def _schedule() -> Schedule:
    return Schedule.objects.get(name=clusters.SCHEDULE_NAME)


def test_new_embeddings_queue_one_rebuild_a_minute(django_capture_on_commit_callbacks, monkeypatch):
    from django_q.brokers import get_broker
    from django_q.scheduler import scheduler

    assert _schedule().repeats == 0  # the migration made it, disarmed
    built = []
    real = clusters.clusters_build
    monkeypatch.setattr(clusters, "clusters_build", lambda **kw: built.append(1) or real(**kw))
    rng = np.random.default_rng(8)
    _faces(rng, 0, 3)
    with django_capture_on_commit_callbacks(execute=True):
        faces_embedded.send(sender=FaceEmbedding, face_ids=[1], embedder="dlib", model_hash="x")
        faces_embedded.send(sender=FaceEmbedding, face_ids=[2], embedder="dlib", model_hash="x")
    schedule = _schedule()
    assert schedule.repeats == 1 and schedule.func == "classifier.tasks.build_clusters"
    assert timezone.now() + timedelta(seconds=50) < schedule.next_run <= timezone.now() + timedelta(seconds=60)
    assert clusters.clusters_build_soon() is False  # still queued: nothing more
    scheduler(get_broker())  # not yet due
    assert built == []
    Schedule.objects.filter(pk=schedule.pk).update(next_run=timezone.now() - timedelta(seconds=1))
    scheduler(get_broker())  # due: one task (run at once here, tasks are synchronous in tests)
    scheduler(get_broker())
    assert built == [1] and FaceCluster.objects.count() == 1 and _schedule().repeats == 0
    assert clusters.clusters_build_soon() is True  # a later embedding queues the next one


def test_the_embedding_service_sends_the_signal_and_the_suggest_task_queues_a_build(monkeypatch):
    from faces.services import face_embeddings_compute

    class Fake:
        name, dimension = current_model()[0], 128

        def model_hash(self):
            return current_model()[1]

        def embed(self, images):
            return [np.ones(128, dtype=np.float32)] * len(images)

    monkeypatch.setattr("faces.services.embeddings.load_face_image", lambda face: object())
    heard = []
    faces_embedded.connect(lambda sender, **kw: heard.append(kw["face_ids"]), dispatch_uid="t", weak=False)
    try:
        face = make_face()
        face_embeddings_compute(face_ids=[face.pk], embedder=Fake())
    finally:
        faces_embedded.disconnect(dispatch_uid="t")
    assert heard == [[face.pk]]
    assert tasks.build_clusters() == "0 clusters" and tasks.build_clusters(123) == "0 clusters"  # old queued form


def test_rebuild_button_queues_a_build_now(client, labeler):
    client.force_login(labeler)
    response = client.post(reverse("classifier:cluster-rebuild"))
    assert response.status_code == 302 and _schedule().repeats == 1 and _schedule().next_run <= timezone.now()


# --- the cap ------------------------------------------------------------------------------------------


def test_a_build_takes_the_newest_faces_up_to_the_cap(settings):
    rng = np.random.default_rng(9)
    old, new = _faces(rng, 0, 4), _faces(rng, 1, 4)
    assert _members(clusters.clusters_build(max_faces=4)[0]) == sorted(f.pk for f in new)
    settings.IDOLSITE_CLUSTER_MAX_FACES = 6  # the newest 6: two of her, too few for a cluster
    assert [_members(c) for c in clusters.clusters_build()] == [sorted(f.pk for f in new)]
    settings.IDOLSITE_CLUSTER_MAX_FACES = 100
    assert len(clusters.clusters_build()) == 2
    out = io.StringIO()
    call_command("clusters", "--max-faces", "4", stdout=out)
    assert "1 cluster(s) holding 4 of 8 unknown face(s)" in out.getvalue()
    assert old


# --- the page -------------------------------------------------------------------------------------------


def test_the_page_shows_clusters_with_no_model(client, viewer):
    client.force_login(viewer)
    text = client.get(reverse("classifier:clusters")).content.decode()
    assert "no unknown face has a face embedding yet" in text
    rng = np.random.default_rng(10)
    faces = _faces(rng, 0, 3)
    (cluster,) = clusters.clusters_build()
    text = client.get(reverse("classifier:clusters")).content.decode()
    assert f'id="cluster-{cluster.pk}"' in text and f"face {faces[0].pk}" in text
    assert "no trained model is needed" in text


def test_naming_a_cluster_rebuilt_meanwhile_says_so(client, labeler):
    client.force_login(labeler)
    response = client.post(reverse("classifier:cluster-name", args=[999999]), {"idol": make_idol().pk}, follow=True)
    assert "rebuilt meanwhile" in response.content.decode()


# --- dlib's real vectors of the shared faces --------------------------------------------------------------

PEOPLE = ["Hugh_Jackman", "Keira_Knightley", "Simon_Cowell", "Will_Smith"]
STRANGERS = ["Drew_Barrymore", "James_Spader", "Kate_Winslet"]


@needs_shared_faces
def test_real_embeddings_of_shared_faces_make_mostly_pure_clusters():
    from faces.embedders import get_embedder
    from faces.services import face_embeddings_compute
    from labeling.services import face_import

    person_of: dict[int, str] = {}
    for person, count in [(p, 8) for p in PEOPLE] + [(p, 1) for p in STRANGERS]:
        idol = make_idol(person.replace("_", " "))
        for path in sorted((SHARED_FACES / person).iterdir())[:count]:
            person_of[face_import(data=path.read_bytes(), idol=idol, original_name=path.name).face_id] = person
    FaceLabel.objects.all().delete()  # the faces are unknown: nobody labeled them
    counts = face_embeddings_compute(face_ids=list(person_of), embedder=get_embedder())
    assert counts["embedded"] == len(person_of)

    built = clusters.clusters_build()
    clustered = [m for c in built for m in _members(c)]
    purities = [Counter(person_of[m] for m in _members(c)).most_common(1)[0][1] / c.members.count() for c in built]
    assert len(built) >= 3 and min(purities) >= 0.9, purities
    assert len(clustered) >= 0.75 * 8 * len(PEOPLE)
    assert sum(person_of[m] in STRANGERS for m in clustered) <= 1
