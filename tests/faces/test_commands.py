from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from faces import services
from faces.models import Photo
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db


def test_import_photos_adds_files_and_folders_and_skips_duplicates_trash_and_bad(tmp_path):
    folder = tmp_path / "in" / "nested"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(image_bytes(seed=1))
    (folder / "b.png").write_bytes(image_bytes(fmt="PNG", seed=2))
    (folder / "notes.txt").write_text("not a photo: skipped and said so")
    single = tmp_path / "c.jpg"
    single.write_bytes(image_bytes(seed=3))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"GIF89a broken")
    trashed = services.photo_create(data=image_bytes(seed=4))
    services.photo_trash(photo=trashed)
    services.photo_purge(photo=trashed)
    (folder / "old.jpg").write_bytes(image_bytes(seed=4))

    out, err = io.StringIO(), io.StringIO()
    call_command("import_photos", str(tmp_path / "in"), str(single), str(bad), stdout=out, stderr=err, verbosity=0)
    assert "3 photo(s) added, 0 already stored, 1 trashed before, 2 bad file(s) skipped" in out.getvalue()
    assert "  not an image: 1 (notes.txt)" in out.getvalue() and "  damaged or truncated: 1 (bad.jpg)" in out.getvalue()
    assert "bad.jpg" in err.getvalue()

    out = io.StringIO()
    call_command("import_photos", str(tmp_path / "in"), stdout=out, verbosity=0)
    assert "0 photo(s) added, 2 already stored, 1 trashed before" in out.getvalue()
    assert Photo.objects.count() == 3


def test_import_photos_refuses_missing_path(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_photos", str(tmp_path / "missing.jpg"))


def test_ensure_admin_creates_one_admin_once(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "password:" in out.getvalue()
    password = (tmp_path / "initial-admin.txt").read_text().split("password: ")[1].strip()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "password:" not in out.getvalue()
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


def test_empty_trash_erases_only_old_trash_and_keeps_tombstones():
    from datetime import timedelta

    from django.utils import timezone

    from faces.models import PhotoTombstone

    old, recent, kept = (services.photo_create(data=image_bytes(seed=s)) for s in (41, 42, 43))
    services.photo_trash(photo=old)
    services.photo_trash(photo=recent)
    Photo.all_objects.filter(pk=old.pk).update(trashed_at=timezone.now() - timedelta(days=40))
    out = io.StringIO()
    call_command("empty_trash", "--dry-run", stdout=out)
    assert "1 photo(s)" in out.getvalue() and Photo.all_objects.count() == 3
    call_command("empty_trash", stdout=io.StringIO())
    assert set(Photo.all_objects.values_list("pk", flat=True)) == {recent.pk, kept.pk}
    assert PhotoTombstone.objects.filter(sha256=old.sha256, photo=None).exists()


def _reencoded(data: bytes, quality: int = 60) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buffer, format="JPEG", quality=quality)
    assert buffer.getvalue() != data
    return buffer.getvalue()


def test_import_photos_links_a_reencoded_copy_and_refuses_one_of_a_trashed_photo(tmp_path):
    from faces.models import PhotoSighting

    stored = services.photo_create(data=image_bytes(400, 300, seed=31))
    trashed = services.photo_create(data=image_bytes(400, 300, seed=32))
    services.photo_trash(photo=trashed)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "copy.jpg").write_bytes(_reencoded(image_bytes(400, 300, seed=31)))
    (folder / "back.jpg").write_bytes(_reencoded(image_bytes(400, 300, seed=32)))
    out = io.StringIO()
    call_command("import_photos", str(folder), stdout=out, verbosity=0)
    assert "0 photo(s) added, 1 already stored, 1 trashed before" in out.getvalue()
    assert Photo.all_objects.count() == 2
    sighting = PhotoSighting.objects.get()
    assert (sighting.photo, sighting.how) == (stored, "phash")
