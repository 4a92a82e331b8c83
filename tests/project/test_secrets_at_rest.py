"""A fresh clone migrates with DEBUG off; the database, media and model files are owner-only;
a weak SECRET_KEY fails ``check --deploy``; a missing setting stops start-up by name."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks

from classifier.ml.classifier import _write_atomically
from tests.factories import make_photo
from tests.projectenv import ROOT, project_env


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def fresh_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clone's default layout (SQLite under IDOLSITE_VAR_DIR), DEBUG off, media and models
    elsewhere so that nothing else creates the var folder."""
    env = project_env(
        tmp_path,
        DEBUG="0",
        SECRET_KEY="a-long-random-production-key-5f2c9e7b1d3a8c6e4f0b2d9a7c5e3f1b",
        IDOLSITE_VAR_DIR=str(tmp_path / "clone" / "var"),
        IDOLSITE_MEDIA_ROOT=str(tmp_path / "media"),
        IDOLSITE_MODEL_DIR=str(tmp_path / "models"),
        **extra,
    )
    env.pop("DATABASE_URL")
    env.pop("ALLOWED_HOSTS", None)
    return env


WRITE_AND_LOOK = """
import os, stat, django
django.setup()
from django.conf import settings
from django.contrib.auth.models import User
User.objects.create_user("someone", password="pw-someone-1")
name = settings.DATABASES["default"]["NAME"]
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(name + suffix):
        print(suffix or "db", oct(stat.S_IMODE(os.stat(name + suffix).st_mode)))
"""


def test_a_fresh_clone_migrates_with_debug_off_and_owner_only_files(tmp_path):
    env = fresh_env(tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    var = tmp_path / "clone" / "var"
    assert mode(var) == 0o700
    assert mode(var / "idolsite.sqlite3") == 0o600
    looked = subprocess.run(
        [sys.executable, "-c", WRITE_AND_LOOK], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert looked.returncode == 0, looked.stderr[-2000:]
    modes = dict(line.split() for line in looked.stdout.splitlines())
    assert modes["db"] == "0o600" and modes["-wal"] == "0o600" and modes["-shm"] == "0o600", modes
    assert mode(tmp_path / "media") == 0o700 and mode(tmp_path / "models") == 0o700  # made by the system checks


def test_without_secret_key_start_up_stops_naming_it(tmp_path):
    env = fresh_env(tmp_path)
    env.pop("SECRET_KEY")
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "ImproperlyConfigured: SECRET_KEY must be set" in done.stderr


def test_the_web_server_needs_allowed_hosts_but_management_commands_do_not(tmp_path):
    env = fresh_env(tmp_path)
    for module in ("idolsite.wsgi", "idolsite.asgi"):
        done = subprocess.run(
            [sys.executable, "-c", f"import {module}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0 and "ImproperlyConfigured: ALLOWED_HOSTS must be set" in done.stderr, module
    done = subprocess.run(
        [sys.executable, "-c", "import idolsite.wsgi"],
        cwd=ROOT,
        env={**env, "ALLOWED_HOSTS": "photos.example.org"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    "key",
    ["x", "django-insecure-" + "k3y" * 20, "ab" * 40, "tests-only-secret-key-not-for-production"],
)
def test_a_weak_secret_key_is_a_deploy_error(settings, key):
    settings.DEBUG = False
    settings.SECRET_KEY = key
    errors = [m for m in run_checks(include_deployment_checks=True) if m.id == "idolsite.E021"]
    assert len(errors) == 1 and errors[0].is_serious() and "SECRET_KEY" in errors[0].msg


def test_a_strong_secret_key_passes_and_plain_checks_do_not_judge_it(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = "a-long-random-production-key-5f2c9e7b1d3a8c6e4f0b2d9a7c5e3f1b"
    assert not [m for m in run_checks(include_deployment_checks=True) if m.id == "idolsite.E021"]
    settings.SECRET_KEY = "x"
    assert not [m for m in run_checks() if m.id == "idolsite.E021"]  # only --deploy


@pytest.mark.django_db
def test_stored_photos_and_their_folders_are_owner_only(settings):
    photo = make_photo()
    image = Path(photo.image.path)
    assert mode(image) == 0o600 and mode(Path(photo.thumbnail.path)) == 0o600
    assert mode(image.parent) == 0o700 and mode(Path(settings.MEDIA_ROOT)) == 0o700


def test_model_files_are_owner_only(tmp_path):
    target = tmp_path / "model.json"
    _write_atomically(target, lambda tmp: tmp.write_text("{}"))
    assert mode(target) == 0o600


def test_a_database_file_readable_by_others_is_closed_on_connect(tmp_path):
    from core.sqlite.base import prepare_database_file

    path = tmp_path / "old.sqlite3"
    path.write_bytes(b"")
    path.chmod(0o644)
    prepare_database_file(str(path))
    assert mode(path) == 0o600
