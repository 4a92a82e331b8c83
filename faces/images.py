"""Reading untrusted image bytes safely, and the derived files we store (thumbnails, crops).

Everything that turns bytes into pixels goes through :func:`decode_image`, so every way in
(import, upload, crawl, the detection API) refuses the same bad input with the same message.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InvalidImage

# The formats we accept, by Pillow's name for them. MPO is a multi-picture JPEG (phones).
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF"}
EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}

# Magic bytes of the accepted formats: checked before Pillow parses anything.
_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


@dataclass(frozen=True)
class DecodedImage:
    """An image ready for use: RGB, EXIF orientation applied, first frame of an animation."""

    image: Image.Image
    format: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def sniff_format(data: bytes) -> str | None:
    """The format named by the magic bytes, or None when they are not an accepted image's."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_image(data: bytes, *, max_bytes: int | None = None, max_pixels: int | None = None) -> DecodedImage:
    """Decode untrusted bytes into an RGB image, or raise :class:`InvalidImage` saying why."""
    max_bytes = max_bytes or settings.IDOLSITE_MAX_IMAGE_BYTES
    max_pixels = max_pixels or settings.IDOLSITE_MAX_IMAGE_PIXELS
    if not data:
        raise InvalidImage(gettext("the file is empty (0 bytes)"))
    if len(data) > max_bytes:
        raise InvalidImage(file_too_large(len(data), max_bytes))
    if sniff_format(data) is None:
        head = data[:64].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")):
            raise InvalidImage(gettext("the file is an HTML page (accepted: JPEG, PNG, GIF, WebP, BMP, TIFF)"))
        raise InvalidImage(gettext("the file is not an image (accepted: JPEG, PNG, GIF, WebP, BMP, TIFF)"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt = image.format or ""
            if fmt not in ACCEPTED_FORMATS:
                raise InvalidImage(gettext("unsupported image format %(format)r") % {"format": fmt or "unknown"})
            width, height = image.size
            if width <= 0 or height <= 0:
                raise InvalidImage(gettext("the image has no pixels"))
            if width * height > max_pixels:
                raise InvalidImage(
                    gettext("the image is too large: %(width)sx%(height)s pixels (the limit is %(limit)s pixels)")
                    % {"width": width, "height": height, "limit": f"{max_pixels:,}"}
                )
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)  # animated: the first frame
            image.load()
            image = ImageOps.exif_transpose(image) or image
            image = to_rgb(image)
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage(
            gettext("the image is too large (more than %(limit)s pixels)") % {"limit": f"{max_pixels:,}"}
        ) from None
    except UnidentifiedImageError:
        raise InvalidImage(gettext("the file is not an image Pillow can read")) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage(gettext("the image is damaged or truncated (%(error)s)") % {"error": exc}) from None
    return DecodedImage(image=image, format=fmt, width=image.width, height=image.height)


def file_too_large(size: int, limit: int) -> str:
    """The refusal of a file over the size limit (uploads, fetched images, the detection API)."""
    return gettext("the file is too large: %(size)s bytes (the limit is %(limit)s)") % {
        "size": f"{size:,}",
        "limit": f"{limit:,}",
    }


def to_rgb(image: Image.Image) -> Image.Image:
    """Any mode to 8-bit RGB: alpha on white, 16-bit scaled down, CMYK and palettes converted."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = _as_array(image)
        top = 65535 if mode.startswith("I;16") or array.max() > 255 else 255
        scaled = (array.astype("float64") * (255.0 / top)).clip(0, 255).astype("uint8")
        return Image.fromarray(scaled, mode="L").convert("RGB")
    if mode == "F":
        array = _as_array(image)
        low, high = float(array.min()), float(array.max())
        span = (high - low) or 1.0
        scaled = ((array - low) * (255.0 / span)).clip(0, 255).astype("uint8")
        return Image.fromarray(scaled, mode="L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _as_array(image: Image.Image):
    import numpy as np

    return np.asarray(image)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dhash_hex(image: Image.Image, size: int = 8) -> str:
    """A 64-bit difference hash: near-identical pictures (re-encoded, resized) share it."""
    grey = _as_array(image.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS)).astype("int16")
    bits = 0
    for bit in (grey[:, :-1] > grey[:, 1:]).flatten():
        bits = (bits << 1) | int(bit)
    return f"{bits:016x}"


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def encode_jpeg(image: Image.Image, *, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def make_thumbnail(image: Image.Image, size: int | None = None) -> bytes:
    size = size or settings.IDOLSITE_THUMBNAIL_SIZE
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    return encode_jpeg(thumb, quality=85)


def square_crop(image: Image.Image, size: int | None = None) -> bytes:
    """The centre square of an image resized to the crop size: for faces that come pre-cropped."""
    size = size or settings.IDOLSITE_CROP_SIZE
    fitted = ImageOps.fit(image, (size, size), Image.Resampling.LANCZOS)
    return encode_jpeg(fitted, quality=92)


def crop_square(image: Image.Image, box: tuple[int, int, int, int], size: int | None = None) -> bytes:
    """The square around a box (its longer side, centred on it, kept inside the image),
    resized to the crop size: the crop of a face whose box was drawn by hand."""
    size = size or settings.IDOLSITE_CROP_SIZE
    x, y, w, h = box
    side = min(max(w, h), image.width, image.height)
    left = min(max(0, x + w // 2 - side // 2), image.width - side)
    top = min(max(0, y + h // 2 - side // 2), image.height - side)
    region = image.crop((left, top, left + side, top + side))
    return encode_jpeg(region.resize((size, size), Image.Resampling.LANCZOS), quality=92)
