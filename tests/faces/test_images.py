"""Bad and unusual input: each is decoded correctly or refused with a clear reason."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.errors import InvalidImage
from faces.images import decode_image
from tests.factories import image_bytes


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A valid 1-bit greyscale PNG of width x height black pixels, about 100 KB: its
    header claims 900 megapixels. Written by hand with zlib, never held as pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row * 1000) for _ in range(height // 1000)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 48), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG")  # red in CMYK


def png_16bit() -> bytes:
    array = np.full((48, 64), 65535 // 2, dtype="<u2")
    return encode(Image.frombytes("I;16", (64, 48), array.tobytes()), "PNG")


def grey_jpeg() -> bytes:
    return encode(Image.new("L", (64, 48), 200), "JPEG")


def alpha_png() -> bytes:
    image = Image.new("RGBA", (64, 48), (0, 0, 0, 0))  # fully transparent black
    image.putpixel((0, 0), (0, 0, 255, 255))
    return encode(image, "PNG")


# name -> (bytes factory, part of the error message)
BAD_INPUT = {
    "zero bytes": (lambda: b"", "empty"),
    "truncated JPEG": (lambda: image_bytes(300, 300)[:400], "damaged or truncated"),
    "HTML page": (lambda: b"<!DOCTYPE html><html><body>403</body></html>", "HTML"),
    "plain text": (lambda: b"just some words, no picture", "not an image"),
    "30000x30000 PNG bomb": (png_bomb, "too large"),
}
# name -> (bytes factory, RGB of pixel (1, 1) after decoding)
UNUSUAL_INPUT = {
    "animated GIF": (animated_gif, (255, 0, 0)),  # the first frame
    "CMYK JPEG": (cmyk_jpeg, (255, 0, 0)),
    "16-bit PNG": (png_16bit, (127, 127, 127)),
    "greyscale JPEG": (grey_jpeg, (200, 200, 200)),
    "PNG with alpha": (alpha_png, (255, 255, 255)),  # transparent on white
}


@pytest.mark.parametrize("name", list(BAD_INPUT))
def test_bad_input_is_refused_with_a_reason(name):
    make, reason = BAD_INPUT[name]
    with pytest.raises(InvalidImage, match=reason):
        decode_image(make())


def test_png_bomb_is_small_on_disk_and_refused_before_decoding():
    data = png_bomb()
    assert len(data) < 1_000_000
    with pytest.raises(InvalidImage, match=r"too large.*pixels"):
        decode_image(data)


@pytest.mark.parametrize("name", list(UNUSUAL_INPUT))
def test_unusual_input_becomes_rgb(name):
    make, pixel = UNUSUAL_INPUT[name]
    decoded = decode_image(make())
    assert decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == (64, 48)
    assert all(abs(a - b) <= 3 for a, b in zip(decoded.image.getpixel((1, 1)), pixel, strict=True))


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (60, 40), (0, 128, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    decoded = decode_image(encode(image, "JPEG", exif=exif))
    assert (decoded.width, decoded.height) == (40, 60)
