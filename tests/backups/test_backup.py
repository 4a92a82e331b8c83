"""manage.py backup and restore: a whole site comes back in another, empty one (a new SQLite
file, or a new PostgreSQL database in the PostgreSQL run) with every row and file; damaged
backups, full folders and full databases are refused, saying why."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from faces.models import Face, Photo
from labeling.models import DatasetExport, FaceLabel
from tests.backups.world import build_world, snapshot
from tests.factories import make_face, make_idol
from tests.projectenv import ROOT, project_env

pytestmark = pytest.mark.django_db(transaction=True)


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return _run(env, str(ROOT / "manage.py"), *args)


def _remote_snapshot(env: dict[str, str]) -> dict:
    done = _run(
        env,
        "-c",
        "import django, json; django.setup(); from tests.backups.world import snapshot; print(json.dumps(snapshot()))",
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the tests' own kind: a SQLite file not yet made, or a PostgreSQL
    database created here (and dropped after)."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("needs PostgreSQL's client programs pg_dump and pg_restore (apt install postgresql-client)")
    import psycopg2

    params = connection.settings_dict
    name = f"{params['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    server = psycopg2.connect(
        dbname="postgres", user=params["USER"], password=params["PASSWORD"], host=params["HOST"], port=params["PORT"]
    )
    server.autocommit = True
    try:
        with server.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
        yield f"postgres://{params['USER']}{password}@{params['HOST']}:{params['PORT'] or 5432}/{name}"
    finally:
        with server.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.close()


@pytest.fixture
def small_backup(tmp_path: Path) -> Path:
    face = make_face()
    from labeling.services import face_label

    face_label(face=face, idol=make_idol("Aiko"))
    call_command("backup", str(tmp_path / "backup"), verbosity=0)
    return tmp_path / "backup"


@pytest.mark.slow  # five processes of the new site
def test_a_backup_restores_whole_into_an_empty_site(tmp_path, empty_database_url, settings):
    build_world()
    expected = snapshot()
    assert expected["active_model_files"] and len(expected["media"]) >= 15  # photos, thumbnails, crops
    call_command("backup", str(tmp_path / "backup"), verbosity=0)

    info = json.loads((tmp_path / "backup" / "backup.json").read_text())
    assert info["engine"] == connection.vendor
    assert info["counts"] == {
        "photos": 5,
        "faces": 6,
        "labels": 4,
        "label_events": 6,
        "idols": 3,
        "model_versions": 1,
    }
    assert info["migrations"]["faces"] and info["migrations"]["classifier"]
    manifest = [json.loads(line) for line in (tmp_path / "backup" / "manifest.jsonl").read_text().splitlines()]
    assert {e["key"] for e in manifest if e["area"] == "media"} == set(expected["media"])
    assert sorted(e["key"] for e in manifest if e["area"] == "models") == sorted(
        f"{expected['active_model']}/{key}" for key in expected["active_model_files"]
    )
    assert not list(tmp_path.glob("backup.partial-*"))

    site = project_env(tmp_path / "new", DATABASE_URL=empty_database_url, LANGUAGE_CODE="en")
    done = _manage(site, "restore", str(tmp_path / "backup"))
    assert done.returncode == 0, done.stderr
    assert _remote_snapshot(site) == expected

    # Now the new site holds the photos: a second restore is refused, unless forced.
    again = _manage(site, "restore", str(tmp_path / "backup"))
    assert again.returncode == 1
    assert "not empty (photos: 5, faces: 6, labels: 4)" in again.stderr
    forced = _manage(site, "restore", "--force", str(tmp_path / "backup"))
    assert forced.returncode == 0, forced.stderr
    assert _remote_snapshot(site) == expected


def test_a_damaged_backup_is_refused_naming_its_files_and_nothing_is_restored(small_backup):
    manifest = [json.loads(line) for line in (small_backup / "manifest.jsonl").read_text().splitlines()]
    crop = next(e["key"] for e in manifest if e["key"].startswith("crops/"))
    photo = next(e["key"] for e in manifest if e["key"].startswith("photos/"))
    damaged = small_backup / "media" / crop
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"x")
    (small_backup / "media" / photo).unlink()
    before = (Photo.objects.count(), Face.objects.count(), FaceLabel.objects.count())

    with pytest.raises(CommandError) as refused:
        call_command("restore", str(small_backup), "--force", verbosity=0)

    message = str(refused.value)
    assert "The backup is damaged: nothing was restored." in message
    assert f"media/{crop}: sha256 differs" in message
    assert f"media/{photo}: missing" in message
    assert (Photo.objects.count(), Face.objects.count(), FaceLabel.objects.count()) == before


def test_restore_refuses_a_database_that_holds_photos(small_backup):
    with pytest.raises(CommandError, match=r"The database is not empty \(photos: 1, faces: 1, labels: 1\)"):
        call_command("restore", str(small_backup), verbosity=0)


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"engine": "other"}, "not a backup this version can read"),
        (
            {"migrations": {"faces": "9999_from_the_future"}},
            "newer version of the site (migrations unknown here: faces.9999",
        ),
    ],
)
def test_restore_refuses_a_backup_it_cannot_take(small_backup, change, refusal):
    info = json.loads((small_backup / "backup.json").read_text())
    (small_backup / "backup.json").write_text(json.dumps({**info, **change}))
    with pytest.raises(CommandError, match=refusal.replace("(", r"\(")):
        call_command("restore", str(small_backup), verbosity=0)


def test_restore_refuses_a_backup_of_the_other_database_engine(small_backup):
    info = json.loads((small_backup / "backup.json").read_text())
    other = "postgresql" if info["engine"] == "sqlite" else "sqlite"
    (small_backup / "backup.json").write_text(json.dumps({**info, "engine": other}))
    with pytest.raises(CommandError, match=f"backup is of a {other} database and this site uses {info['engine']}"):
        call_command("restore", str(small_backup), verbosity=0)


def test_an_unfinished_backup_is_no_backup(small_backup):
    (small_backup / "backup.json").unlink()
    with pytest.raises(CommandError, match="is not a complete backup"):
        call_command("restore", str(small_backup), verbosity=0)


def test_a_backup_never_goes_into_a_folder_that_holds_something(tmp_path):
    make_face()
    dest = tmp_path / "full"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(CommandError, match="already exists and is not an empty folder"):
        call_command("backup", str(dest), verbosity=0)
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    # An empty folder is fine, and nothing is left beside it.
    (tmp_path / "empty").mkdir()
    call_command("backup", str(tmp_path / "empty"), verbosity=0)
    assert (tmp_path / "empty" / "backup.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


@pytest.mark.slow  # three processes of the new site
def test_a_manifest_only_backup_restores_against_the_files_left_in_storage(tmp_path, empty_database_url, settings):
    build_world()
    expected = snapshot()
    call_command("backup", str(tmp_path / "backup"), "--no-media", verbosity=0)
    assert not (tmp_path / "backup" / "media").exists()
    assert len((tmp_path / "backup" / "manifest.jsonl").read_text().splitlines()) == len(expected["media"]) + len(
        expected["active_model_files"]
    )

    # The new site shares the storage (which keeps its own versions): one file there was changed.
    site = project_env(
        tmp_path / "new",
        DATABASE_URL=empty_database_url,
        IDOLSITE_MEDIA_ROOT=str(settings.MEDIA_ROOT),
        IDOLSITE_MODEL_DIR=str(settings.IDOLSITE_MODEL_DIR),
        LANGUAGE_CODE="en",
    )
    changed = next(key for key in expected["media"] if key.startswith("thumbs/"))
    original = (Path(settings.MEDIA_ROOT) / changed).read_bytes()
    (Path(settings.MEDIA_ROOT) / changed).write_bytes(b"overwritten")
    refused = _manage(site, "restore", str(tmp_path / "backup"))
    assert refused.returncode == 1
    assert f"media/{changed}: sha256 differs" in refused.stderr

    (Path(settings.MEDIA_ROOT) / changed).write_bytes(original)
    done = _manage(site, "restore", str(tmp_path / "backup"))
    assert done.returncode == 0, done.stderr
    assert _remote_snapshot(site) == expected


@pytest.mark.slow  # a process of the new site
def test_a_backup_of_an_older_schema_migrates_forward(small_backup, tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the older schema is made by editing the backup's SQLite copy (the SQLite run covers it)")
    # The backup as the version before the dataset exports would have written it.
    table = DatasetExport._meta.db_table
    copy = small_backup / "database.sqlite3"
    with closing(sqlite3.connect(copy)) as db:
        db.execute(f'DROP TABLE "{table}"')
        db.execute("DELETE FROM django_migrations WHERE app = 'labeling' AND name = '0006_dataset_export'")
        db.commit()
    info = json.loads((small_backup / "backup.json").read_text())
    data = copy.read_bytes()
    info["database"].update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    info["migrations"]["labeling"] = "0005_labelevent_user_idx"
    (small_backup / "backup.json").write_text(json.dumps(info))

    site = project_env(tmp_path / "new", LANGUAGE_CODE="en")
    done = _manage(site, "restore", str(small_backup))

    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(tmp_path / "new" / "idolsite.sqlite3")) as db:
        assert db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = ?", [table]).fetchone() == (1,)
        assert db.execute("SELECT MAX(name) FROM django_migrations WHERE app = 'labeling'").fetchone() == (
            "0006_dataset_export",
        )
        assert db.execute(f'SELECT COUNT(*) FROM "{Photo._meta.db_table}"').fetchone() == (1,)
