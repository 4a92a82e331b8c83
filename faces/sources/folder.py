"""A local folder: image files new since the last run (by modification time, then name)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.utils.translation import gettext

from faces.http import FetchError
from faces.sources.base import Item, Listing, SourceKind

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


class FolderKind(SourceKind):
    kind = "folder"

    def list_new(self) -> Listing:
        root = Path(self.source.locator).expanduser()
        if not root.is_dir():
            raise FetchError(gettext("%(folder)s: no such folder") % {"folder": root})
        state = self.source.state or {}
        cutoff = float(state.get("mtime", 0.0))
        at_cutoff = set(state.get("names", []))
        found: list[tuple[float, str, Path]] = []
        for path in root.rglob("*"):
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            mtime = path.stat().st_mtime
            name = str(path.relative_to(root))
            if mtime > cutoff or (mtime == cutoff and name not in at_cutoff):
                found.append((mtime, name, path))
        found.sort()
        items: list[Item] = []
        names_at: dict[float, list[str]] = {cutoff: sorted(at_cutoff)}
        for mtime, name, path in found:
            names_at.setdefault(mtime, []).append(name)
            items.append(
                Item(
                    item_id=name[:255],
                    url=str(path),
                    page_url="",
                    posted_at=datetime.fromtimestamp(mtime, tz=UTC),
                    cursor={"mtime": mtime, "names": list(names_at[mtime])},
                )
            )
        return Listing(items=items, state={})

    def download(self, item: Item) -> bytes:
        try:
            return Path(item.url).read_bytes()
        except OSError as exc:
            raise FetchError(f"{item.url}: {exc.strerror or exc}") from None
