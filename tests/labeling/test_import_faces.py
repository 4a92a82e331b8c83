from __future__ import annotations

import io
import shutil

import pytest
from django.core.management import CommandError, call_command

from faces.models import Face, Photo
from labeling.models import FaceLabel, How, Idol
from tests.conftest import SHARED_FACES, needs_shared_faces
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db


def _tree(tmp_path):
    root = tmp_path / "people"
    for person, seeds in {"Ayu_Kato": [1, 2, 3], "Mei": [4, 5]}.items():
        (root / person).mkdir(parents=True)
        for seed in seeds:
            (root / person / f"{seed}.jpg").write_bytes(image_bytes(112, 112, seed=seed))
    return root


def _run(root):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_faces", str(root), stdout=out, stderr=err, verbosity=0)
    return out.getvalue(), err.getvalue()


def test_import_faces_creates_one_labeled_face_per_image_and_is_idempotent(tmp_path):
    root = _tree(tmp_path)
    out, _ = _run(root)
    assert "5 face(s) imported for 2 people (2 new idol(s))" in out
    assert Photo.objects.count() == Face.objects.count() == FaceLabel.objects.count() == 5
    assert set(Idol.objects.values_list("name", flat=True)) == {"Ayu Kato", "Mei"}
    face = Face.objects.select_related("photo").first()
    assert face.box == [0, 0, 112, 112] and face.detector == "import"
    assert face.photo.status == Photo.Status.DETECTED
    assert set(FaceLabel.objects.values_list("how", flat=True)) == {How.IMPORT}

    out, _ = _run(root)
    assert "0 face(s) imported" in out and "5 already there" in out
    assert Face.objects.count() == 5 and Idol.objects.count() == 2


def test_import_faces_reports_and_skips_bad_files(tmp_path):
    root = _tree(tmp_path)
    (root / "Mei" / "broken.jpg").write_bytes(image_bytes(112, 112, seed=9)[:300])
    (root / "Mei" / "empty.png").write_bytes(b"")
    (root / "Mei" / "page.jpg").write_bytes(b"<html><body>404</body></html>")
    out, err = _run(root)
    assert "5 face(s) imported" in out and "3 bad file(s) skipped" in out
    assert "broken.jpg" in err and "empty.png" in err and "page.jpg" in err
    assert Photo.all_objects.count() == 5
    media = tmp_path / "media"
    assert len(list((media / "photos").rglob("*.*"))) == 5  # nothing half-written for the bad files
    assert len(list((media / "crops").rglob("*.*"))) == 5


def test_import_faces_uses_an_existing_graduated_idol_without_reviving_her(tmp_path):
    from labeling import services

    services.idol_soft_delete(idol=services.idol_create(name="Mei"))
    _run(_tree(tmp_path))
    assert Idol.all_objects.filter(name="Mei").count() == 1
    assert FaceLabel.objects.filter(idol__name="Mei").count() == 2


def test_import_faces_refuses_a_missing_folder(tmp_path):
    with pytest.raises(CommandError, match="not a folder"):
        call_command("import_faces", str(tmp_path / "nope"))
    with pytest.raises(CommandError, match="no sub-folders"):
        call_command("import_faces", str(tmp_path))


@needs_shared_faces
def test_import_real_shared_faces_sample(tmp_path):
    root = tmp_path / "sample"
    for person in sorted(SHARED_FACES.iterdir())[:3]:
        (root / person.name).mkdir(parents=True)
        for path in sorted(person.glob("*.jpg"))[:4]:
            shutil.copy(path, root / person.name / path.name)
    out, _ = _run(root)
    assert "12 face(s) imported for 3 people" in out
    assert Face.objects.count() == 12


def test_import_faces_keeps_alike_crops_that_are_not_the_same_file(tmp_path):
    """Aligned crops of one person fall within a few bits of each other's perceptual hash: only
    the same bytes count as a copy here (a re-encoded copy of a photo does elsewhere)."""
    from PIL import Image

    root = tmp_path / "people" / "Mei"
    root.mkdir(parents=True)
    original = image_bytes(112, 112, seed=1)
    (root / "1.jpg").write_bytes(original)
    again = io.BytesIO()
    Image.open(io.BytesIO(original)).save(again, format="JPEG", quality=60)
    (root / "2.jpg").write_bytes(again.getvalue())
    out, _ = _run(tmp_path / "people")
    assert "2 face(s) imported" in out
    assert FaceLabel.objects.count() == 2
