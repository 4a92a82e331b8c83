"""RSS and Atom feeds: enclosures, media:content and ``<img>`` in the entry HTML."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from django.utils.translation import gettext

from faces.http import FetchError
from faces.sources.base import Item, Listing, SourceKind, html_to_text, images_in_html


class RssKind(SourceKind):
    kind = "rss"

    def list_new(self) -> Listing:
        import feedparser

        response = self.get_if_changed("application/rss+xml, application/atom+xml, application/xml, text/xml")
        if response.not_modified:
            return Listing(items=[], state={})
        feed = feedparser.parse(response.body)
        if feed.bozo and not feed.entries:
            raise FetchError(
                gettext("%(url)s: not an RSS or Atom feed (%(error)s)")
                % {"url": self.source.locator, "error": feed.get("bozo_exception", "unreadable")}
            )
        items: list[Item] = []
        entries = sorted(feed.entries, key=lambda e: e.get("published_parsed") or e.get("updated_parsed") or ())
        for entry in entries:
            entry_id = entry.get("id") or entry.get("link") or ""
            link = entry.get("link", "")
            if not entry_id:
                continue
            urls: list[str] = []
            for enclosure in entry.get("enclosures", []):
                if str(enclosure.get("type", "")).startswith("image/") and enclosure.get("href"):
                    urls.append(enclosure["href"])
            for media in entry.get("media_content", []):
                if media.get("url") and (
                    media.get("medium") == "image" or str(media.get("type", "")).startswith("image/")
                ):
                    urls.append(media["url"])
            html_parts = [c.get("value", "") for c in entry.get("content", [])] + [entry.get("summary", "")]
            for html in html_parts:
                urls.extend(images_in_html(html, link or self.source.locator))
            stamp = entry.get("published_parsed") or entry.get("updated_parsed")
            posted_at = datetime.fromtimestamp(calendar.timegm(stamp), tz=UTC) if stamp else None
            for index, url in enumerate(dict.fromkeys(urls)):
                items.append(
                    Item(
                        item_id=f"{entry_id}#{index}"[:255],
                        url=url,
                        page_url=link,
                        author=entry.get("author", ""),
                        caption=html_to_text(entry.get("title", "")),
                        posted_at=posted_at,
                    )
                )
        return Listing(items=items, state=self.validators(response))
