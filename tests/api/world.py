"""A small world of rows for API tests: a source, photos, faces, idols, groups, labels."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from classifier.models import FaceCluster, FaceClusterMember, ModelVersion, TrainingRun
from faces import services as face_services
from faces.models import Face, Photo, Source
from labeling import services
from labeling.models import DatasetExport, Idol, IdolGroup, Membership
from tests.factories import image_bytes, make_face, make_group, make_idol, make_photo


@dataclass
class World:
    user: Any  # who did the labeling below
    source: Source
    photo: Photo
    trashed_photo: Photo
    labeled: Face  # labeled with ``idol`` by ``user`` in ``batch``
    unlabeled: Face
    excluded: Face
    idol: Idol
    graduated: Idol
    other: Idol
    group: IdolGroup
    empty_group: IdolGroup
    membership: Membership
    batch: uuid.UUID
    run: TrainingRun  # queued: starting another answers this one
    version: ModelVersion  # registered, not active
    cluster: FaceCluster  # two faces that may be one person
    export: DatasetExport  # done, with its archive, asked for by nobody in the world


def build_world(user: Any) -> World:
    source = Source.objects.create(kind=Source.Kind.FOLDER, name="Drop", locator="/srv/drop")
    photo = make_photo(data=image_bytes(320, 240), source=source)
    trashed_photo = face_services.photo_trash(photo=make_photo(data=image_bytes(200, 100)))
    labeled = make_face(photo, box=(10, 10, 50, 60))
    unlabeled = make_face(photo, box=(100, 10, 50, 60))
    excluded = make_face(photo, box=(200, 10, 50, 60), score=0.4)
    services.face_exclude(face=excluded, reason=Face.ExclusionReason.NOT_A_FACE, user=user)
    group = make_group("Sakura Gakuin")
    idol = make_idol("Suzuka Nakamoto", reading="なかもと すずか", group=group)
    graduated = services.idol_soft_delete(idol=make_idol("Graduated One"), user=user)
    other = make_idol("Other Person")
    batch = uuid.uuid4()
    services.face_label(face=labeled, idol=idol, user=user, batch=batch)
    version = ModelVersion.objects.create(
        directory="v-world",
        format_version=1,
        class_idol_ids=[idol.pk, other.pk],
        input_size=64,
        fingerprint="0" * 64,
        val_top1=0.5,
    )
    cluster = FaceCluster.objects.create(model_version=version)
    for face in (unlabeled, labeled):
        FaceClusterMember.objects.create(cluster=cluster, face=face)
    return World(
        user=user,
        source=source,
        photo=photo,
        trashed_photo=trashed_photo,
        labeled=labeled,
        unlabeled=unlabeled,
        excluded=excluded,
        idol=idol,
        graduated=graduated,
        other=other,
        group=group,
        empty_group=make_group("Empty"),
        membership=Membership.objects.get(idol=idol, group=group),
        batch=batch,
        run=TrainingRun.objects.create(reason="world"),
        version=version,
        cluster=cluster,
        export=DatasetExport.objects.create(
            format="coco",
            status=DatasetExport.Status.DONE,
            file=default_storage.save("exports/world.zip", ContentFile(b"PK\x05\x06" + bytes(18))),
        ),
    )
