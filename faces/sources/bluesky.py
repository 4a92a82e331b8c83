"""A Bluesky account's author feed through the public AppView: ``app.bsky.feed.getAuthorFeed``
with ``filter=posts_with_media``; images at full size (``fullsize``). The feed is newest first
and paged with ``cursor``; paging stops at the newest post stored before (``since``)."""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.utils.translation import gettext

from faces.http import FetchError
from faces.sources.base import Item, Listing, SourceKind, parse_time


def _images(embed: dict) -> list[dict]:
    if not isinstance(embed, dict):
        return []
    kind = embed.get("$type", "")
    if kind.startswith("app.bsky.embed.images"):
        return embed.get("images", [])
    if kind.startswith("app.bsky.embed.recordWithMedia"):
        return _images(embed.get("media", {}))
    return []


class BlueskyKind(SourceKind):
    kind = "bluesky"

    def list_new(self) -> Listing:
        actor = self.source.locator.strip().lstrip("@")
        if not actor:
            raise FetchError(gettext("a Bluesky source needs a handle, e.g. name.bsky.social"))
        base = (self.options.get("base_url") or settings.IDOLSITE_BLUESKY_APPVIEW).rstrip("/")
        since = (self.source.state or {}).get("since", "")
        posts: list[dict] = []
        cursor = ""
        done = False
        for _ in range(self.max_pages):
            url = f"{base}/xrpc/app.bsky.feed.getAuthorFeed?actor={quote(actor)}&limit=50&filter=posts_with_media"
            if cursor:
                url += f"&cursor={quote(cursor)}"
            page = self.fetcher.get(url, headers={"Accept": "application/json"}).json()
            if not isinstance(page, dict) or not isinstance(page.get("feed"), list):
                raise FetchError(gettext("%(url)s: not an author feed") % {"url": url})
            for entry in page["feed"]:
                post = entry.get("post") or {}
                stamp = post.get("indexedAt", "")
                if since and stamp and stamp <= since:
                    done = True
                    break
                is_repost = (entry.get("reason") or {}).get("$type", "").endswith("reasonRepost")
                if is_repost and self.options.get("skip_reposts", True):
                    continue
                posts.append(post)
            cursor = page.get("cursor") or ""
            if done or not cursor:
                break
        items: list[Item] = []
        for post in sorted(posts, key=lambda p: p.get("indexedAt", "")):
            uri = post.get("uri", "")
            author = (post.get("author") or {}).get("handle", actor)
            record = post.get("record") or {}
            rkey = uri.rsplit("/", 1)[-1]
            for index, image in enumerate(_images(post.get("embed") or {})):
                if not image.get("fullsize"):
                    continue
                items.append(
                    Item(
                        item_id=f"{uri}#{index}"[:255],
                        url=image["fullsize"],
                        page_url=f"https://bsky.app/profile/{author}/post/{rkey}",
                        author=author,
                        caption=record.get("text", ""),
                        posted_at=parse_time(record.get("createdAt") or post.get("indexedAt")),
                        cursor={"since": post.get("indexedAt", "")},
                    )
                )
        newest = max([p.get("indexedAt", "") for p in posts] + [since])
        return Listing(items=items, state={"since": newest})
