from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from faces.models import Face, Photo, PhotoTombstone
from labeling import services
from labeling.export.base import ExportError
from labeling.export.imagefolder import ImageFolderWriter
from labeling.models import FaceLabel, Idol
from tests.factories import make_face, make_idol

pytestmark = pytest.mark.django_db


def _export(out, *args):
    stdout = io.StringIO()
    call_command("export_dataset", "--out", str(out), *args, stdout=stdout, verbosity=0)
    return stdout.getvalue()


def _crop(face_id):
    with default_storage.open(Face.objects.get(pk=face_id).crop.name, "rb") as handle:
        return handle.read()


def _manifest(out):
    with (out / "manifest.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_imagefolder_has_a_folder_per_idol_and_a_manifest(people, tmp_path):
    out = tmp_path / "ds"
    report = _export(out, "--format", "imagefolder")
    assert "8 face(s) of 4 idol(s)" in report and "1 face(s) with several labels" in report
    assert sorted(p.name for p in out.iterdir()) == ["Ayu_Kato", "Mei", "Rin", "Saki", "manifest.csv"]
    rows = _manifest(out)
    faces = people["faces"]
    assert Counter(r["labels"] for r in rows) == {"Ayu Kato": 3, "Mei": 2, "Saki": 2, "Rin": 1}
    exported = {int(r["face_id"]) for r in rows}
    assert exported == {f.pk for fs in faces.values() for f in fs}  # none excluded, trashed or doubly labeled
    for row in rows:
        face = Face.objects.select_related("photo").get(pk=row["face_id"])
        assert (out / row["file"]).read_bytes() == _crop(face.pk)
        assert row["photo_sha256"] == face.photo.sha256 and row["split"] == "train"
        assert [int(row[k]) for k in "xywh"] == face.box
    assert not list(tmp_path.glob("ds.partial-*"))


def test_imagefolder_round_trip_through_import_faces(people, tmp_path):
    out = tmp_path / "ds"
    _export(out, "--format", "imagefolder")
    exported = Counter(r["labels"] for r in _manifest(out))
    crops = {r["labels"] + "/" + r["face_id"]: (out / r["file"]).read_bytes() for r in _manifest(out)}
    # A fresh database: no photos, faces, labels or idols.
    FaceLabel.objects.all().delete()
    Photo.all_objects.all().delete()
    PhotoTombstone.objects.all().delete()
    Idol.all_objects.all().delete()
    call_command("import_faces", str(out), stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)
    imported = Counter(FaceLabel.objects.values_list("idol__name", flat=True))
    assert imported == exported
    assert {p.sha256 for p in Photo.objects.all()} == {face_services_sha(b) for b in crops.values()}


def face_services_sha(data):
    from faces.images import sha256_hex

    return sha256_hex(data)


def test_min_faces_and_idols_select(people, tmp_path):
    report = _export(tmp_path / "a", "--format", "imagefolder", "--min-faces", "2")
    assert "Left out: Rin (1 face(s), fewer than 2)" in report
    assert {r["labels"] for r in _manifest(tmp_path / "a")} == {"Ayu Kato", "Mei", "Saki"}

    saki = people["idols"]["saki"]
    _export(tmp_path / "b", "--format", "imagefolder", "--idols", "mei", str(saki.pk))
    assert Counter(r["labels"] for r in _manifest(tmp_path / "b")) == {"Mei": 2, "Saki": 2}

    with pytest.raises(CommandError, match="No idol Nobody"):
        _export(tmp_path / "c", "--format", "imagefolder", "--idols", "Nobody")
    assert not (tmp_path / "c").exists()


def test_split_is_stratified_and_deterministic(people, tmp_path):
    ayu = people["idols"]["ayu"]
    for _ in range(7):
        services.face_label(face=make_face(), idol=ayu)  # Ayu: 10 faces
    splits = []
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2"), ("d", "3"), ("e", "4")):
        _export(tmp_path / name, "--format", "imagefolder", "--split", "0.8", "--seed", seed)
        splits.append({int(r["face_id"]): r["split"] for r in _manifest(tmp_path / name)})
    assert splits[0] == splits[1]
    assert len({tuple(sorted(s.items())) for s in splits}) > 2  # another seed, another split
    rows = _manifest(tmp_path / "a")
    per_idol = Counter((r["labels"], r["split"]) for r in rows)
    assert per_idol[("Ayu Kato", "val")] == 2 and per_idol[("Ayu Kato", "train")] == 8
    assert per_idol[("Rin", "val")] == 0  # one face stays on the training side
    with pytest.raises(CommandError, match="between 0 and 1"):
        _export(tmp_path / "x", "--format", "imagefolder", "--split", "1.5")


def test_refuses_a_non_empty_output(people, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(CommandError, match="already exists"):
        _export(out, "--format", "imagefolder")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "media"]
    empty = tmp_path / "empty"
    empty.mkdir()
    _export(empty, "--format", "imagefolder")  # an empty folder is taken
    assert (empty / "manifest.csv").exists()


def test_a_crash_leaves_neither_output_nor_temporary_folder(people, tmp_path, monkeypatch):
    calls = []
    original = ImageFolderWriter.add

    def add(self, row):
        calls.append(row.face_id)
        if len(calls) == 3:
            raise OSError("disk full")
        original(self, row)

    monkeypatch.setattr(ImageFolderWriter, "add", add)
    with pytest.raises(OSError, match="disk full"):
        _export(tmp_path / "ds", "--format", "imagefolder")
    assert len(calls) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media"]


def test_nothing_to_export_is_an_error(tmp_path):
    make_face()
    with pytest.raises(CommandError, match="No labeled faces"):
        _export(tmp_path / "ds", "--format", "imagefolder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media"]


def test_same_names_get_their_ids_in_the_folder(tmp_path):
    one, two = make_idol("Mei"), make_idol("Mei", same_name_ok=True)
    odd = make_idol("../a/b: c")
    for idol in (one, two, odd):
        services.face_label(face=make_face(), idol=idol)
    _export(tmp_path / "ds", "--format", "imagefolder")
    folders = sorted(p.name for p in (tmp_path / "ds").iterdir() if p.is_dir())
    assert folders == sorted([f"Mei-{one.pk}", f"Mei-{two.pk}", "_a_b__c"])
    with pytest.raises(ExportError, match="Several idols"):
        from labeling.export.base import resolve_idols

        resolve_idols(["Mei"])


def test_coco_has_the_photos_boxes_and_labels(people, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "coco"
    _export(out, "--format", "coco", "--copy-images")
    data = json.loads((out / "annotations.json").read_text(encoding="utf-8"))
    integer = {"type": "integer", "minimum": 0}
    schema = {
        "type": "object",
        "required": ["images", "annotations", "categories"],
        "properties": {
            "images": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "file_name", "width", "height"],
                    "properties": {"id": integer, "file_name": {"type": "string"}, "width": integer, "height": integer},
                },
            },
            "annotations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "image_id", "category_id", "bbox", "area", "iscrowd"],
                    "properties": {
                        "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                        "iscrowd": {"enum": [0]},
                        "area": {"type": "number"},
                    },
                },
            },
            "categories": {
                "type": "array",
                "items": {"type": "object", "required": ["id", "name"]},
            },
        },
    }
    jsonschema.validate(data, schema)
    images = {i["id"]: i for i in data["images"]}
    categories = {c["id"]: c["name"] for c in data["categories"]}
    assert len({a["id"] for a in data["annotations"]}) == len(data["annotations"])
    for a in data["annotations"]:
        image = images[a["image_id"]]
        assert a["category_id"] in categories
        x, y, w, h = a["bbox"]
        assert x + w <= image["width"] and y + h <= image["height"] and a["area"] == w * h
    for image in images.values():
        photo = Photo.objects.get(pk=image["id"])
        assert (out / image["file_name"]).read_bytes() == photo.image.read()
    names = Counter(categories[a["category_id"]] for a in data["annotations"])
    # The face with two labels is two annotations; excluded and trashed faces are none.
    assert names == {"Ayu Kato": 4, "Mei": 3, "Saki": 2, "Rin": 1}
    shared = people["faces"]["ayu"][0].photo_id
    assert sum(a["image_id"] == shared for a in data["annotations"]) == 2
    with pytest.raises(CommandError, match="no split"):
        _export(tmp_path / "x", "--format", "coco", "--split", "0.8")


@pytest.mark.slow  # TensorFlow's import
def test_tfrecord_reads_back_every_crop_and_label(people, tmp_path):
    tf = pytest.importorskip("tensorflow")
    out = tmp_path / "tf"
    _export(out, "--format", "tfrecord", "--split", "0.5", "--shard-size", "2")
    labels = dict(line.split(":", 1) for line in (out / "labels.txt").read_text(encoding="utf-8").splitlines())
    assert sorted(labels.values()) == ["Ayu Kato", "Mei", "Rin", "Saki"]
    files = sorted(p.name for p in out.glob("*.tfrecord"))
    # Half of each idol's faces (rounded) on the validation side, one face staying in training:
    # Ayu 1 + 2, Mei 1 + 1, Rin 1 + 0, Saki 1 + 1; two faces a shard.
    assert files == [f"{split}-{i:05d}-of-00002.tfrecord" for split in ("train", "val") for i in range(2)]
    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/class/label": tf.io.FixedLenFeature([], tf.int64),
        "image/class/text": tf.io.FixedLenFeature([], tf.string),
        "image/face_id": tf.io.FixedLenFeature([], tf.int64),
    }
    dataset = tf.data.TFRecordDataset([str(out / f) for f in files]).map(lambda r: tf.io.parse_single_example(r, spec))
    seen, splits = {}, Counter()
    for path in files:
        splits[path.split("-")[0]] += sum(1 for _ in tf.data.TFRecordDataset(str(out / path)))
    assert splits == {"train": 4, "val": 4}
    for example in dataset.as_numpy_iterator():
        face_id = int(example["image/face_id"])
        assert example["image/encoded"] == _crop(face_id)
        name = example["image/class/text"].decode()
        assert labels[str(example["image/class/label"])] == name
        seen[face_id] = name
    expected = {f.pk: idol.name for key, idol in people["idols"].items() for f in people["faces"][key]}
    assert seen == expected


def test_queries_do_not_grow_with_the_faces(people, tmp_path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(name):
        with CaptureQueriesContext(connection) as captured:
            _export(tmp_path / name, "--format", "coco")
        return len(captured)

    before = queries("a")
    mei = people["idols"]["mei"]
    for _ in range(5):
        services.face_label(face=make_face(), idol=mei)
    assert queries("b") == before


def test_tensorflow_is_imported_only_inside_functions():
    import ast
    from pathlib import Path

    import labeling.export

    def top_level(body):
        for node in body:
            if isinstance(node, ast.ClassDef):
                yield from top_level(node.body)
            elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from ast.walk(node)

    folder = Path(labeling.export.__file__).parent
    for path in folder.glob("*.py"):
        for node in top_level(ast.parse(path.read_text(encoding="utf-8")).body):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "tensorflow" for n in names), path.name


def test_idols_deleted_by_mistake_or_merged_are_left_out(people, tmp_path):
    gone, kept = make_idol("Gone"), make_idol("Kept")
    services.face_label(face=make_face(), idol=gone)
    services.face_label(face=make_face(), idol=kept)
    services.idol_soft_delete(idol=gone, reason=Idol.DeletionReason.OTHER)
    _export(tmp_path / "ds", "--format", "imagefolder")
    names = {r["labels"] for r in _manifest(tmp_path / "ds")}
    assert "Kept" in names and "Saki" in names and "Gone" not in names
    with pytest.raises(CommandError, match="No idol Gone"):
        _export(tmp_path / "x", "--format", "imagefolder", "--idols", "Gone")


def test_the_command_shows_its_progress(people, tmp_path, capsys):
    stdout = io.StringIO()
    call_command("export_dataset", "--format", "imagefolder", "--out", str(tmp_path / "ds"), stdout=stdout)
    assert "8 face(s) of 4 idol(s) exported" in stdout.getvalue()
    assert "8/8" in capsys.readouterr().err  # the progress bar, at its end
