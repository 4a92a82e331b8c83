"""Model files in an S3-compatible bucket (moto's server, over HTTP): stored with a manifest
written last, the row created only then, downloaded to a local cache and checked on load."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.files.storage import storages
from django.urls import reverse

from classifier.ml.classifier import Classifier
from classifier.models import ModelVersion
from classifier.services import modelfiles
from classifier.services.versions import forget_loaded, load_classifier, model_version_delete, model_version_register
from tests.classifier.conftest import two_class_set

pytestmark = pytest.mark.django_db

METRICS = {"top1": 0.75}


@pytest.fixture
def tiny(tiny_model_dir) -> Classifier:
    forget_loaded()
    yield Classifier.load(tiny_model_dir)
    forget_loaded()


def _pixels():
    return two_class_set(16)[1][:6]


def test_a_model_is_stored_in_the_bucket_and_loaded_from_a_verified_copy(s3_storage, tiny, settings):
    version = model_version_register(run_id=None, clf=tiny, metrics=METRICS)
    keys = s3_storage.list_keys(s3_storage.model_key(version.directory) + "/")
    names = {key.rsplit("/", 1)[1] for key in keys}
    assert {"model.keras", "model.json", "manifest.json", "curves.png"} <= names
    manifest = json.loads(s3_storage.read(s3_storage.model_key(f"{version.directory}/manifest.json")))
    assert set(manifest["files"]) == names - {"manifest.json"}
    assert not (settings.IDOLSITE_MODEL_DIR / version.directory).exists()  # nothing on the model folder

    forget_loaded()
    clf = load_classifier(version)
    assert clf is not None and clf.class_idol_ids == tiny.class_idol_ids
    np.testing.assert_allclose(clf.predict(_pixels()), tiny.predict(_pixels()), rtol=1e-5, atol=1e-6)
    cached = settings.IDOLSITE_MODEL_CACHE_DIR / f"{version.pk}-{version.directory}"
    assert (cached / "model.keras").is_file() and (cached / "manifest.json").is_file()


def test_the_run_page_pictures_come_from_the_bucket(s3_storage, tiny, admin_client):
    version = model_version_register(run_id=None, clf=tiny, metrics=METRICS)
    response = admin_client.get(reverse("classifier:version_image", args=[version.pk, "curves.png"]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_an_interrupted_upload_leaves_no_version_and_no_files(s3_storage, tiny, monkeypatch):
    storage = storages["models"]
    real_save = type(storage).save
    saved = []

    def failing_save(self, name, content, max_length=None):
        if len(saved) == 2:
            raise ConnectionError("the bucket went away")
        saved.append(name)
        return real_save(self, name, content, max_length=max_length)

    monkeypatch.setattr(type(storage), "save", failing_save)
    with pytest.raises(ConnectionError):
        model_version_register(run_id=None, clf=tiny, metrics=METRICS)
    assert len(saved) == 2  # some files were stored before it failed ...
    assert ModelVersion.objects.count() == 0  # ... and no row points at them
    assert s3_storage.list_keys(s3_storage.model_key("")) == []  # nor are they left behind


def test_files_without_their_manifest_are_no_model(s3_storage, tiny):
    version = model_version_register(run_id=None, clf=tiny, metrics=METRICS)
    s3_storage.client.delete_object(
        Bucket=s3_storage.bucket, Key=s3_storage.model_key(f"{version.directory}/manifest.json")
    )
    forget_loaded()
    assert load_classifier(version) is None
    version.refresh_from_db()
    assert version.set_aside and not version.is_active


def test_a_file_altered_in_the_bucket_is_refused_by_its_hash(s3_storage, tiny, settings):
    version = model_version_register(run_id=None, clf=tiny, metrics=METRICS)
    key = s3_storage.model_key(f"{version.directory}/model.keras")
    s3_storage.client.put_object(Bucket=s3_storage.bucket, Key=key, Body=s3_storage.read(key) + b"\0")
    forget_loaded()
    assert load_classifier(version) is None
    version.refresh_from_db()
    assert version.set_aside
    assert not list(settings.IDOLSITE_MODEL_CACHE_DIR.glob(f"*{version.directory}*"))  # no half copy kept


def test_deleting_a_version_deletes_its_objects_and_its_cached_copy(s3_storage, tiny, settings):
    first = model_version_register(run_id=None, clf=tiny, metrics=METRICS)
    assert first.is_active
    second = model_version_register(run_id=None, clf=tiny, metrics={"top1": 0.9})
    load_classifier(first)
    assert s3_storage.list_keys(s3_storage.model_key(first.directory) + "/")
    first.refresh_from_db()
    model_version_delete(version=first)
    assert s3_storage.list_keys(s3_storage.model_key(first.directory) + "/") == []
    assert s3_storage.list_keys(s3_storage.model_key(second.directory) + "/")
    assert not list(settings.IDOLSITE_MODEL_CACHE_DIR.glob(f"*{first.directory}*"))


def test_on_local_disk_a_model_folder_holds_its_manifest(tiny, settings):
    version = model_version_register(run_id=None, clf=tiny, metrics=METRICS)
    folder = settings.IDOLSITE_MODEL_DIR / version.directory
    manifest = json.loads((folder / modelfiles.MANIFEST).read_text())
    assert set(manifest["files"]) == {p.name for p in folder.iterdir()} - {modelfiles.MANIFEST}
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert oct((folder / "model.keras").stat().st_mode & 0o777) == "0o600"
    forget_loaded()
    assert load_classifier(version) is not None
