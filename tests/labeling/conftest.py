"""Users with each role of the labeling pages."""

from __future__ import annotations

import pytest

from faces import services as face_services
from faces.models import Face
from labeling import services
from labeling.models import FaceLabel, Idol
from labeling.roles import assign_role
from tests.factories import make_face, make_idol, make_photo


@pytest.fixture
def make_user(django_user_model):
    def make(role: str | None, username: str | None = None):
        user = django_user_model.objects.create_user(username=username or f"u-{role}", password="pw-123456")
        if role:
            assign_role(user, role)
        return user

    return make


@pytest.fixture
def viewer(make_user):
    return make_user("viewer")


@pytest.fixture
def labeler(make_user):
    return make_user("labeler")


@pytest.fixture
def idol_admin(make_user):
    return make_user("admin")


@pytest.fixture
def as_labeler(client, labeler):
    client.force_login(labeler)
    return client


@pytest.fixture
def people():
    """Ayu (3 faces, one on a photo with two faces), Mei (2), Rin (1), Saki (graduated, 2); and
    faces that must stay out: excluded yet labeled, on a trashed photo, two labels, no label."""
    ayu, mei, rin, saki = (make_idol(n) for n in ("Ayu Kato", "Mei", "Rin", "Saki"))
    photo = make_photo()
    faces = {
        "ayu": [make_face(photo, box=(10, 10, 50, 60)), make_face(), make_face()],
        "mei": [make_face(photo, box=(100, 20, 40, 40)), make_face()],
        "rin": [make_face()],
        "saki": [make_face(), make_face()],
    }
    for idol, name in ((ayu, "ayu"), (mei, "mei"), (rin, "rin"), (saki, "saki")):
        for face in faces[name]:
            services.face_label(face=face, idol=idol)
    services.idol_soft_delete(idol=saki, reason=Idol.DeletionReason.GRADUATED)

    excluded = make_face()
    FaceLabel.objects.create(face=excluded, idol=ayu)
    Face.objects.filter(pk=excluded.pk).update(excluded=True, exclusion_reason=Face.ExclusionReason.BAD_CROP)
    trashed = make_face()
    services.face_label(face=trashed, idol=ayu)
    face_services.photo_trash(photo=trashed.photo)
    both = make_face()
    services.face_label(face=both, idol=ayu)
    services.face_label(face=both, idol=mei)
    make_face()  # unlabeled
    return {"idols": {"ayu": ayu, "mei": mei, "rin": rin, "saki": saki}, "faces": faces, "both": both}
