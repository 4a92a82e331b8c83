"""``import_faces`` and ``import_photos`` read every format Pillow reads (a face dataset of
``.pgm`` files imported nothing before, without a word), and end with what they skipped, by
reason: not an image, damaged, too small, already stored."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from PIL import Image

from faces.importing import Skip, SkipTally, local_image_bytes
from faces.models import Face, Photo
from labeling.models import FaceLabel
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

# Pillow's name for the format -> the file's suffix, with the mode the file is saved in.
FORMATS = {
    "PPM": (".pgm", "L"),  # Netpbm greyscale: the AT&T / ORL face dataset
    "WEBP": (".webp", "RGB"),
    "BMP": (".bmp", "RGB"),
    "TIFF": (".tif", "RGB"),
    "TGA": (".tga", "RGB"),
    "PNG": (".png", "LA"),
}


def encoded(fmt: str, mode: str, seed: int, size: tuple[int, int] = (92, 112)) -> bytes:
    image = Image.open(io.BytesIO(image_bytes(*size, fmt="PNG", seed=seed))).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err, verbosity=0)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def people(tmp_path):
    """Two people, a face in each format, and the files a real folder also holds."""
    root = tmp_path / "att_faces"
    for n, person in enumerate(("s1", "s2")):
        (root / person).mkdir(parents=True)
        for k, (fmt, (suffix, mode)) in enumerate(FORMATS.items()):
            (root / person / f"{k}{suffix}").write_bytes(encoded(fmt, mode, seed=100 * n + k))
    (root / "s1" / "README.txt").write_text("The ORL database of faces.")
    (root / "s1" / "broken.pgm").write_bytes(encoded("PPM", "L", seed=99)[:60])
    (root / "s1" / "cut.jpg").write_bytes(image_bytes(92, 112, seed=98)[:300])
    (root / "s2" / "tiny.png").write_bytes(image_bytes(8, 8, fmt="PNG", seed=97))
    (root / "s2" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    return root


def test_import_faces_takes_every_format_and_says_what_it_skipped(people):
    out, err = run("import_faces", str(people))
    n = 2 * len(FORMATS)
    assert f"{n} face(s) imported for 2 people (2 new idol(s)); 0 already there; 4 bad file(s) skipped." in out
    assert "Skipped 4 file(s):" in out
    assert "  not an image: 1 (README.txt)" in out
    assert "  damaged or truncated: 2 (broken.pgm, cut.jpg)" in out
    assert "  too small: 1 (tiny.png)" in out
    assert ".DS_Store" not in out + err  # hidden files are no one's photos
    assert "skipped" in err and "README.txt" in err and "8x8 pixels" in err
    assert Face.objects.count() == FaceLabel.objects.count() == n
    stored = sorted(Photo.objects.values_list("original_name", flat=True))
    assert "s1/0.pgm" in stored and "s2/3.tif" in stored and "s1/4.tga" in stored
    # A second run finds the converted files stored: nothing added, each counted once.
    again, _ = run("import_faces", str(people))
    assert f"0 face(s) imported for 2 people (0 new idol(s)); {n} already there; 4 bad file(s) skipped." in again
    assert f"  already stored: {n} (" in again
    assert Face.objects.count() == n


def test_import_photos_takes_every_format_and_says_what_it_skipped(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for k, (fmt, (suffix, mode)) in enumerate(FORMATS.items()):
        (folder / f"p{k}{suffix}").write_bytes(encoded(fmt, mode, seed=k, size=(320, 240)))
    (folder / "notes.txt").write_text("shot list")
    (folder / "page.html").write_text("<!doctype html><html></html>")
    (folder / "broken.webp").write_bytes(encoded("WEBP", "RGB", seed=50, size=(320, 240))[:40])
    out, err = run("import_photos", str(folder))
    assert f"{len(FORMATS)} photo(s) added, 0 already stored, 0 trashed before, 3 bad file(s) skipped." in out
    assert "  not an image: 2 (notes.txt, page.html)" in out and "  damaged or truncated: 1 (broken.webp)" in out
    assert "an HTML page" in err
    assert Photo.objects.count() == len(FORMATS)
    again, _ = run("import_photos", str(folder))
    assert f"0 photo(s) added, {len(FORMATS)} already stored" in again


def test_a_netpbm_file_becomes_a_lossless_png_and_web_formats_stay_as_they_are(tmp_path):
    pgm = tmp_path / "face.pgm"
    original = Image.open(io.BytesIO(encoded("PPM", "L", seed=3)))
    pgm.write_bytes(encoded("PPM", "L", seed=3))
    converted = Image.open(io.BytesIO(local_image_bytes(pgm)))
    assert converted.format == "PNG" and converted.mode == "L"
    assert list(converted.getdata()) == list(original.getdata())
    assert local_image_bytes(pgm) == local_image_bytes(pgm)  # the same bytes each time: re-runs find them
    jpeg = tmp_path / "a.jpg"
    jpeg.write_bytes(image_bytes(seed=4))
    assert local_image_bytes(jpeg) == jpeg.read_bytes()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", SkipTally.NOT_AN_IMAGE),
        (b"hello, world", SkipTally.NOT_AN_IMAGE),
        (b"\x89PNG\r\n\x1a\n nothing more", SkipTally.DAMAGED),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n", SkipTally.UNSUPPORTED),
    ],
)
def test_each_skipped_file_has_its_reason(tmp_path, content, reason):
    path = tmp_path / "file"
    path.write_bytes(content)
    with pytest.raises(Skip) as caught:
        local_image_bytes(path)
    assert caught.value.reason == reason
    with pytest.raises(Skip) as missing:
        local_image_bytes(tmp_path / "gone.png")
    assert missing.value.reason == SkipTally.UNREADABLE
