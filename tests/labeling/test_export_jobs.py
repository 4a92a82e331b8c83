"""Dataset exports as jobs: the API (start, progress, download, list, delete), the task that
writes the archive, and the admin's action on idols."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from faces.models import Face
from labeling import services
from labeling.export.imagefolder import ImageFolderWriter
from labeling.models import DatasetExport
from labeling.services import exports
from labeling.tasks import export_dataset
from tests.factories import make_face

pytestmark = pytest.mark.django_db

LIST = "/api/exports/"


@pytest.fixture
def api(make_user):
    def make(role: str | None, username: str | None = None) -> APIClient:
        client = APIClient()
        if role != "anonymous":
            client.user = make_user(role, username)
            client.force_login(client.user)
        return client

    return make


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """Queued tasks run inline (django-q's sync mode) when the request's transaction commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _command(out: Path, *args: str) -> Path:
    call_command("export_dataset", "--out", str(out), *args, stdout=io.StringIO(), verbosity=0)
    return out


def _download(client: APIClient, export_id: int, into: Path) -> Path:
    response = client.get(f"{LIST}{export_id}/download/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    assert (
        response["Content-Disposition"] == f'attachment; filename="{DatasetExport.objects.get(pk=export_id).filename}"'
    )
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert archive.testzip() is None
        archive.extractall(into)
    (top,) = into.iterdir()  # one folder, named as the archive
    return top


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _stored_exports() -> list[str]:
    media = Path(default_storage.path("exports"))
    return sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()) if media.exists() else []


def _export(client: APIClient, run_tasks, **body) -> dict:
    with run_tasks():
        response = client.post(LIST, body, format="json")
    assert response.status_code == 202, response.content
    return client.get(f"{LIST}{response.json()['id']}/").json()


@pytest.mark.parametrize(
    ("body", "args"),
    [
        (
            {"format": "imagefolder", "split": 0.5, "seed": 7},
            ["--format", "imagefolder", "--split", "0.5", "--seed", "7"],
        ),
        ({"format": "coco", "min_faces": 2}, ["--format", "coco", "--min-faces", "2"]),
    ],
)
def test_api_export_downloads_what_the_command_writes(people, api, run_tasks, tmp_path, body, args):
    client = api("labeler")
    answer = _export(client, run_tasks, **body)
    assert answer["status"] == "done" and answer["progress"] == 1.0 and answer["error"] == ""
    assert answer["done"] == answer["total"] > 0 and answer["requested_by"] == client.user.username
    assert answer["download"].endswith(f"/api/exports/{answer['id']}/download/")
    got = _download(client, answer["id"], tmp_path / "unzipped")
    assert got.name == f"idolsite-{body['format']}-{answer['id']}"
    expected = _command(tmp_path / "command", *args)
    assert _files(got) == _files(expected)
    assert _stored_exports() == [Path(DatasetExport.objects.get().file.name).name]  # the work folder is gone


def test_imagefolder_archive_round_trips_through_its_manifest(people, api, run_tasks, tmp_path):
    import csv

    client = api("labeler")
    answer = _export(client, run_tasks, format="imagefolder", idols=["Mei", str(people["idols"]["rin"].pk)])
    assert answer["options"]["idols"] == sorted([people["idols"]["mei"].pk, people["idols"]["rin"].pk])
    got = _download(client, answer["id"], tmp_path / "x")
    with (got / "manifest.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    expected = {f.pk: name for name in ("mei", "rin") for f in people["faces"][name]}
    assert {int(r["face_id"]): r["labels"] for r in rows} == {
        pk: people["idols"][name].name for pk, name in expected.items()
    }
    for row in rows:
        crop = Face.objects.get(pk=row["face_id"]).crop
        assert (got / row["file"]).read_bytes() == crop.read()
    assert answer["done"] == len(rows) == 3


@pytest.mark.slow  # TensorFlow's import
def test_tfrecord_archive_holds_the_commands_shards(people, api, run_tasks, tmp_path):
    pytest.importorskip("tensorflow")
    client = api("labeler")
    answer = _export(client, run_tasks, format="tfrecord", split=0.5, shard_size=2)
    assert answer["status"] == "done", answer["error"]
    got = _download(client, answer["id"], tmp_path / "x")
    expected = _command(tmp_path / "command", "--format", "tfrecord", "--split", "0.5", "--shard-size", "2")
    assert _files(got) == _files(expected)
    assert sum(name.endswith(".tfrecord") for name in _files(got)) == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "pickle"}, "format"),
        ({}, "format"),
        ({"format": "imagefolder", "split": 1.5}, "split"),
        ({"format": "imagefolder", "split": 0}, "split"),
        ({"format": "imagefolder", "split": "half"}, "split"),
        ({"format": "coco", "split": 0.8}, "split"),
        ({"format": "imagefolder", "idols": ["Nobody"]}, "idols"),
        ({"format": "imagefolder", "idols": "Mei"}, "idols"),
        ({"format": "imagefolder", "min_faces": 0}, "min_faces"),
        ({"format": "tfrecord", "shard_size": 0}, "shard_size"),
        ({"format": "imagefolder", "seed": -1}, "seed"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_queued(people, api, run_tasks, body, field):
    client = api("labeler")
    with run_tasks() as queued:
        response = client.post(LIST, body, format="json")
    assert response.status_code == 400, response.content
    answer = response.json()
    assert set(answer) >= {"error", "detail", "fields"} and field in answer["fields"], answer
    assert not queued and not DatasetExport.objects.exists()


def test_a_removed_idol_is_refused_with_its_name(people, api):
    from labeling.models import Idol

    gone = people["idols"]["rin"]
    services.idol_soft_delete(idol=gone, reason=Idol.DeletionReason.OTHER)
    response = api("labeler").post(LIST, {"format": "coco", "idols": [gone.pk]}, format="json")
    assert response.status_code == 400 and f"No idol {gone.pk}" in response.json()["fields"]["idols"][0]


def test_download_before_done_is_a_conflict(people, api):
    client = api("labeler")
    response = client.post(LIST, {"format": "imagefolder"}, format="json")  # not committed: stays queued
    export_id = response.json()["id"]
    answer = client.get(f"{LIST}{export_id}/download/")
    assert answer.status_code == 409 and answer.json()["error"] == "export_queued"
    assert client.get(f"{LIST}{export_id}/").json()["download"] is None


def test_roles(people, api, run_tasks):
    body = {"format": "coco"}
    assert api("anonymous").post(LIST, body, format="json").status_code in (401, 403)
    viewer = api("viewer")
    assert viewer.post(LIST, body, format="json").status_code == 403
    assert viewer.get(LIST).status_code == 403
    mine, other = api("labeler", "mine"), api("labeler", "other")
    first = _export(mine, run_tasks, **body)
    second = _export(other, run_tasks, **body)
    assert viewer.get(f"{LIST}{first['id']}/download/").status_code == 403
    # Labelers see and download every export, delete only their own.
    assert {e["id"] for e in mine.get(LIST).json()["results"]} == {first["id"], second["id"]}
    assert mine.get(f"{LIST}{second['id']}/download/").status_code == 200
    assert mine.delete(f"{LIST}{second['id']}/").status_code == 403
    with run_tasks():
        assert mine.delete(f"{LIST}{first['id']}/").status_code == 204
    assert list(DatasetExport.objects.values_list("id", flat=True)) == [second["id"]]
    assert len(_stored_exports()) == 1  # the file went with the row
    with run_tasks():
        assert api("admin").delete(f"{LIST}{second['id']}/").status_code == 204
    assert _stored_exports() == [] and not DatasetExport.objects.exists()


def test_a_writer_failing_midway_leaves_failed_no_file(people, api, run_tasks, monkeypatch):
    calls = []
    original = ImageFolderWriter.add

    def add(self, row):
        calls.append(row.face_id)
        if len(calls) == 3:
            raise OSError("disk full")
        original(self, row)

    monkeypatch.setattr(ImageFolderWriter, "add", add)
    answer = _export(api("labeler"), run_tasks, format="imagefolder")
    assert answer["status"] == "failed" and "disk full" in answer["error"] and answer["download"] is None
    export = DatasetExport.objects.get()
    assert export.file.name == "" and export.finished_at is not None
    assert _stored_exports() == []


def test_a_missing_crop_fails_with_its_name(people, api, run_tasks):
    face = people["faces"]["mei"][1]
    default_storage.delete(face.crop.name)
    answer = _export(api("labeler"), run_tasks, format="imagefolder")
    assert answer["status"] == "failed"
    assert answer["error"] == f"A stored file is missing: {face.crop.name}"
    assert _stored_exports() == []


def test_a_failure_while_storing_leaves_no_file(people, api, run_tasks, monkeypatch):
    def save(name, content, max_length=None):
        raise OSError("storage down")

    monkeypatch.setattr(default_storage, "save", save)
    answer = _export(api("labeler"), run_tasks, format="coco")
    assert answer["status"] == "failed" and "storage down" in answer["error"]
    assert _stored_exports() == []


def test_progress_is_saved_at_most_every_second(people, api, run_tasks, monkeypatch):
    def updates(extra_faces: int) -> int:
        for _ in range(extra_faces):
            services.face_label(face=make_face(), idol=people["idols"]["mei"])
        export = services.export_request(format="coco")
        with CaptureQueriesContext(connection) as captured:
            export_dataset(export.pk)
        assert DatasetExport.objects.get(pk=export.pk).status == "done"
        return sum(q["sql"].startswith("UPDATE") and "datasetexport" in q["sql"] for q in captured)

    assert updates(0) == updates(20) <= 4  # claim, last progress, done

    # With the clock moving a second a face, each face's progress is saved.
    clock = iter(range(10_000))
    monkeypatch.setattr(exports.time, "monotonic", lambda: float(next(clock)))
    seen = []
    original = ImageFolderWriter.add

    def add(self, row):
        seen.append(DatasetExport.objects.get(pk=export.pk).done)
        original(self, row)

    monkeypatch.setattr(ImageFolderWriter, "add", add)
    export = services.export_request(format="imagefolder")
    export_dataset(export.pk)
    assert seen == list(range(len(seen))) and len(seen) > 20  # each face's count before the next


def test_deleting_a_running_export_stops_it_and_leaves_nothing(people, api, run_tasks, monkeypatch):
    monkeypatch.setattr(exports, "PROGRESS_EVERY_SECONDS", 0)
    original = ImageFolderWriter.add

    def add(self, row):
        if self.plan.total and len(list(self.root.rglob("*.jpg"))) == 2:
            services.export_delete(export=DatasetExport.objects.get())
        original(self, row)

    monkeypatch.setattr(ImageFolderWriter, "add", add)
    export = services.export_request(format="imagefolder")
    assert "gone" in export_dataset(export.pk)
    assert not DatasetExport.objects.exists() and _stored_exports() == []


def test_a_task_delivered_twice_runs_once(people):
    export = services.export_request(format="coco")
    export_dataset(export.pk)
    done = DatasetExport.objects.get(pk=export.pk)
    assert "taken" in export_dataset(export.pk)
    again = DatasetExport.objects.get(pk=export.pk)
    assert (again.status, again.file.name, again.finished_at) == ("done", done.file.name, done.finished_at)
    assert "gone" in export_dataset(export.pk + 1000)


def test_an_export_whose_worker_died_becomes_failed(people, settings, tmp_path):
    export = services.export_request(format="coco")
    old = timezone.now() - timezone.timedelta(seconds=settings.IDOLSITE_TASK_TIMEOUT + 120)
    DatasetExport.objects.filter(pk=export.pk).update(status="running", started_at=old, heartbeat_at=old)
    left = Path(default_storage.path(exports.WORK_FOLDER)) / f"{export.pk}-abc"
    left.mkdir(parents=True)
    (left / "half.zip").write_bytes(b"PK")
    assert services.fail_stale_exports() == 1
    export.refresh_from_db()
    assert export.status == "failed" and "worker stopped" in export.error and not left.exists()


# --- the admin --------------------------------------------------------------------------------


def test_admin_action_shows_a_form_then_queues_the_export(people, admin_client, run_tasks):
    ayu, mei = people["idols"]["ayu"], people["idols"]["mei"]
    url = reverse("admin:labeling_idol_changelist")
    selected = {"action": "export_dataset", "_selected_action": [ayu.pk, mei.pk]}
    page = admin_client.post(url, selected)
    assert page.status_code == 200 and b'name="min_faces"' in page.content and b"Ayu Kato" in page.content
    assert not DatasetExport.objects.exists()

    refused = admin_client.post(
        url, {**selected, "apply": "1", "format": "coco", "min_faces": 1, "split": 0.8, "seed": 0}
    )
    assert refused.status_code == 200 and b"has no split" in refused.content
    assert not DatasetExport.objects.exists()

    form = {"apply": "1", "format": "imagefolder", "min_faces": 1, "split": 0.5, "seed": 3}
    with run_tasks():
        answer = admin_client.post(url, {**selected, **form})
    export = DatasetExport.objects.get()
    assert answer.status_code == 302 and answer["Location"] == reverse(
        "admin:labeling_datasetexport_change", args=[export.pk]
    )
    assert export.options == {"idols": sorted([ayu.pk, mei.pk]), "min_faces": 1, "split": 0.5, "seed": 3}
    assert export.status == "done" and export.done == 5

    listing = admin_client.get(reverse("admin:labeling_datasetexport_changelist"))
    download = reverse("api:datasetexport-download", args=[export.pk])
    assert listing.status_code == 200 and download.encode() in listing.content
    assert admin_client.get(download).status_code == 200
    detail = admin_client.get(answer["Location"])
    assert detail.status_code == 200 and download.encode() in detail.content
    assert b'name="_save"' not in detail.content  # nothing to edit


def test_admin_action_needs_the_export_role(people, client, make_user):
    staff_viewer = make_user("viewer", "staff-viewer")
    staff_viewer.is_staff = True
    staff_viewer.save()
    client.force_login(staff_viewer)
    page = client.get(reverse("admin:labeling_idol_changelist"))
    assert page.status_code == 200 and b'value="export_dataset"' not in page.content
    assert client.get(reverse("admin:labeling_datasetexport_changelist")).status_code == 403


def test_admin_page_in_japanese(people, admin_client):
    ayu = people["idols"]["ayu"]
    page = admin_client.post(
        reverse("admin:labeling_idol_changelist"),
        {"action": "export_dataset", "_selected_action": [ayu.pk]},
        HTTP_ACCEPT_LANGUAGE="ja",
    )
    text = page.content.decode()
    assert page.status_code == 200 and "データセット" in text
