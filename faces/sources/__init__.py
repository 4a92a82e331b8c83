"""Source kinds: one module each behind :class:`faces.sources.base.SourceKind`."""

from __future__ import annotations

from faces.sources.base import Item, Listing, SourceKind
from faces.sources.bluesky import BlueskyKind
from faces.sources.folder import FolderKind
from faces.sources.mastodon import MastodonKind
from faces.sources.page import PageKind
from faces.sources.rss import RssKind
from faces.sources.x import XKind

KINDS: dict[str, type[SourceKind]] = {
    kind.kind: kind for kind in (RssKind, PageKind, MastodonKind, BlueskyKind, XKind, FolderKind)
}

__all__ = ["KINDS", "Item", "Listing", "SourceKind"]
