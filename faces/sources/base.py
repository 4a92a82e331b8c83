from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

if TYPE_CHECKING:
    from faces.http import Fetcher, Response
    from faces.models import Source


@dataclass
class Item:
    """One image of one post (a post with four photos gives four items)."""

    item_id: str  # unique within the source
    url: str  # the image's URL (a file path for folders)
    page_url: str = ""
    author: str = ""
    caption: str = ""
    posted_at: datetime | None = None
    cursor: dict[str, Any] = field(default_factory=dict)  # state to keep once this item is stored


@dataclass
class Listing:
    """What is new at a source, oldest first, and the state to keep after a complete run."""

    items: list[Item]
    state: dict[str, Any] = field(default_factory=dict)


class SourceKind:
    """A kind of source. ``list_new`` finds what is new since ``source.state``; ``download``
    fetches one item's bytes."""

    kind = ""

    def __init__(self, source: Source, fetcher: Fetcher) -> None:
        self.source = source
        self.fetcher = fetcher
        self.options: dict[str, Any] = source.options or {}

    def list_new(self) -> Listing:
        raise NotImplementedError

    def download(self, item: Item) -> bytes:
        return self.fetcher.get_image(item.url).body

    def get_if_changed(self, accept: str) -> Response:
        """The locator's document, conditional on the ETag and Last-Modified kept in the state."""
        state = self.source.state or {}
        return self.fetcher.get(
            self.source.locator,
            headers={"Accept": accept},
            etag=state.get("etag", ""),
            last_modified=state.get("last_modified", ""),
            max_bytes=10 * 1024 * 1024,
        )

    @staticmethod
    def validators(response: Response) -> dict[str, str]:
        """The state that makes the next request conditional."""
        return {"etag": response.headers.get("etag", ""), "last_modified": response.headers.get("last-modified", "")}

    @property
    def max_pages(self) -> int:
        return int(self.options.get("max_pages", 10))


class ImageCollector(HTMLParser):
    """``<img>`` sources (the largest of a srcset) and ``og:image`` metas of an HTML document."""

    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.og_images: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and values.get("href"):
            self.base_url = urljoin(self.base_url, values["href"])
        elif tag == "meta" and values.get("property", values.get("name", "")).lower() in ("og:image", "og:image:url"):
            if values.get("content"):
                self.og_images.append(urljoin(self.base_url, values["content"].strip()))
        elif tag in ("img", "source"):
            best = largest_in_srcset(values.get("srcset", "")) or values.get("src", "")
            if best and not best.startswith("data:"):
                self.images.append(urljoin(self.base_url, best.strip()))

    def all_images(self) -> list[str]:
        return list(dict.fromkeys(u for u in self.og_images + self.images if not u.lower().endswith(".svg")))


_DESCRIPTOR = re.compile(r"^(\d+(?:\.\d+)?)([wx])$")


def largest_in_srcset(srcset: str) -> str:
    """The candidate with the largest width (``800w``) or density (``2x``) of a srcset."""
    best, best_size = "", -1.0
    for candidate in srcset.split(","):
        parts = candidate.strip().split()
        if not parts:
            continue
        size = 1.0
        if len(parts) > 1 and (match := _DESCRIPTOR.match(parts[-1])):
            size = float(match.group(1)) * (1 if match.group(2) == "w" else 10_000)
        if size > best_size:
            best, best_size = parts[0], size
    return best


def images_in_html(html: str, base_url: str) -> list[str]:
    collector = ImageCollector(base_url)
    collector.feed(html or "")
    return collector.all_images()


def html_to_text(html: str) -> str:
    text = re.sub(r"<br\s*/?>|</p>", "\n", html or "", flags=re.I)
    return unescape(re.sub(r"<[^>]+>", "", text)).strip()


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
