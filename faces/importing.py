"""Local image files for the import commands (``import_photos``, ``import_faces``): every
format Pillow reads, and a tally of the files skipped, by reason.

The intake (``faces.images.decode_image``) accepts the formats that arrive from the web (JPEG,
PNG, GIF, WebP, BMP, TIFF). A file on the importer's own disk may be in any other format Pillow
reads (PGM and the other Netpbm formats of face datasets, TGA, ICO, PCX, SGI, ...): it is
converted to PNG, losslessly, before the intake sees it."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from faces.images import ACCEPTED_FORMATS, sniff_format, to_rgb

# Formats Pillow opens but that run an outside program (Ghostscript) or hold no pixels of
# their own: not read.
REFUSED_FORMATS = {"EPS", "PDF"}
# Modes a PNG keeps as they are; others (CMYK, YCbCr, floats) become RGB.
PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I"}


class Skip(Exception):
    """A file the import leaves out: ``reason`` is one of ``SkipTally.REASONS``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


@dataclass
class SkipTally:
    """The files skipped, by reason, for the command's summary."""

    NOT_AN_IMAGE = "not an image"
    UNSUPPORTED = "an image format not read"
    DAMAGED = "damaged or truncated"
    TOO_SMALL = "too small"
    TOO_LARGE = "too large"
    UNREADABLE = "unreadable file"
    ALREADY_STORED = "already stored"
    TRASHED_BEFORE = "trashed before"
    REASONS = (
        ALREADY_STORED,
        TRASHED_BEFORE,
        NOT_AN_IMAGE,
        UNSUPPORTED,
        DAMAGED,
        TOO_SMALL,
        TOO_LARGE,
        UNREADABLE,
    )
    BAD = {NOT_AN_IMAGE, UNSUPPORTED, DAMAGED, TOO_SMALL, TOO_LARGE, UNREADABLE}
    NAMES_SHOWN = 5  # file names a summary line names; stderr names up to LINES_SHOWN a reason
    LINES_SHOWN = 20

    files: dict[str, list[tuple[Path, str]]] = field(default_factory=dict)

    def add(self, reason: str, path: Path, detail: str = "") -> None:
        self.files.setdefault(reason, []).append((path, detail))

    def count(self, *reasons: str) -> int:
        return sum(len(self.files.get(reason, [])) for reason in reasons)

    @property
    def bad(self) -> int:
        return self.count(*self.BAD)

    def bad_lines(self) -> list[str]:
        """A line for each bad file (the first LINES_SHOWN of each reason), for stderr."""
        lines = []
        for reason in self.REASONS:
            if reason not in self.BAD:
                continue
            found = self.files.get(reason, [])
            for path, detail in found[: self.LINES_SHOWN]:
                lines.append(f"skipped {path}: {detail or reason}")
            if len(found) > self.LINES_SHOWN:
                lines.append(f"... and {len(found) - self.LINES_SHOWN} more {reason}")
        return lines

    def summary_lines(self) -> list[str]:
        """One line per reason: how many, and the first few names."""
        lines = []
        for reason in self.REASONS:
            found = self.files.get(reason, [])
            if not found:
                continue
            names = ", ".join(path.name for path, _ in found[: self.NAMES_SHOWN])
            more = f", ... ({len(found) - self.NAMES_SHOWN} more)" if len(found) > self.NAMES_SHOWN else ""
            lines.append(f"  {reason}: {len(found)} ({names}{more})")
        if lines:
            lines.insert(0, f"Skipped {sum(len(f) for f in self.files.values())} file(s):")
        return lines


def candidate_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` (recursively, sorted) but hidden ones (``.DS_Store``, files
    under ``.git``): whether each is an image is for ``local_image_bytes`` to say."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def files_in(folders: Iterable[Path]) -> list[Path]:
    return [path for folder in folders for path in candidate_files(folder)]


def local_image_bytes(path: Path) -> bytes:
    """The bytes of an image file as the intake takes them: a web format as it is, any other
    format Pillow reads converted to PNG. Raises ``Skip`` with the reason for a file that is no
    image, damaged, too small (no face of IDOLSITE_MIN_FACE_SIZE fits) or too large."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Skip(SkipTally.UNREADABLE, exc.strerror or str(exc)) from None
    if not data:
        raise Skip(SkipTally.NOT_AN_IMAGE, "the file is empty (0 bytes)")
    if len(data) > settings.IDOLSITE_MAX_IMAGE_BYTES:
        raise Skip(SkipTally.TOO_LARGE, f"{len(data):,} bytes (the limit is {settings.IDOLSITE_MAX_IMAGE_BYTES:,})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt = image.format or ""
            _check_size(image.width, image.height)
            if fmt in REFUSED_FORMATS:
                raise Skip(SkipTally.UNSUPPORTED, f"{fmt} is not read (it needs an outside program)")
            if sniff_format(data) is not None and fmt in ACCEPTED_FORMATS:
                return data  # the intake decodes it, and says if it is damaged
            image.load()
            return _as_png(image)
    except Skip:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Skip(SkipTally.TOO_LARGE, f"more than {settings.IDOLSITE_MAX_IMAGE_PIXELS:,} pixels") from None
    except UnidentifiedImageError:
        if sniff_format(data) is not None:  # an image's first bytes, and then nothing Pillow reads
            raise Skip(SkipTally.DAMAGED, f"a {sniff_format(data)} file Pillow cannot read") from None
        head = data[:64].lstrip().lower()
        what = "an HTML page" if head.startswith((b"<!doctype html", b"<html")) else "no format Pillow reads"
        raise Skip(SkipTally.NOT_AN_IMAGE, what) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise Skip(SkipTally.DAMAGED, str(exc)) from None


def _check_size(width: int, height: int) -> None:
    smallest = settings.IDOLSITE_MIN_FACE_SIZE
    if width < smallest or height < smallest:
        raise Skip(SkipTally.TOO_SMALL, f"{width}x{height} pixels (a side under {smallest}, IDOLSITE_MIN_FACE_SIZE)")
    if width * height > settings.IDOLSITE_MAX_IMAGE_PIXELS:
        raise Skip(
            SkipTally.TOO_LARGE,
            f"{width}x{height} pixels (the limit is {settings.IDOLSITE_MAX_IMAGE_PIXELS:,} pixels)",
        )


def _as_png(image: Image.Image) -> bytes:
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animated: the first frame, as the intake takes it
    if image.mode not in PNG_MODES:
        image = to_rgb(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")  # deterministic: a second import finds the same bytes stored
    return buffer.getvalue()
