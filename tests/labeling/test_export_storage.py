"""A dataset export with the media in an S3-compatible bucket (moto's server, over HTTP): the
crops are read from the bucket, the archive is stored there and downloaded through the API."""

from __future__ import annotations

import io
import zipfile

import pytest
from rest_framework.test import APIClient

from faces.models import Face
from labeling.models import DatasetExport

pytestmark = pytest.mark.django_db


def test_an_export_reads_crops_from_the_bucket_and_stores_its_archive_there(
    s3_storage, people, make_user, django_capture_on_commit_callbacks
):
    client = APIClient()
    client.force_login(make_user("labeler"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/exports/", {"format": "imagefolder"}, format="json")
    assert response.status_code == 202, response.content
    export = DatasetExport.objects.get(pk=response.json()["id"])
    assert export.status == DatasetExport.Status.DONE, export.error
    stored = s3_storage.read(s3_storage.media_key(export.file.name))
    download = client.get(f"/api/exports/{export.pk}/download/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == stored
    with zipfile.ZipFile(io.BytesIO(stored)) as archive:
        crops = {name: archive.read(name) for name in archive.namelist() if name.endswith(".jpg")}
    expected = {
        face.crop.read()
        for faces in people["faces"].values()
        for face in Face.objects.filter(pk__in=[f.pk for f in faces])
    }
    assert crops and set(crops.values()) <= expected
