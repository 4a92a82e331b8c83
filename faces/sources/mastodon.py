"""A public Mastodon account through the documented REST API.

``GET /api/v1/accounts/lookup?acct=NAME`` gives the account id; ``GET
/api/v1/accounts/:id/statuses?only_media=true`` lists its posts newest first, paged with
``max_id`` and bounded below by ``since_id`` (the cursor kept after each stored post)."""

from __future__ import annotations

from urllib.parse import quote

from django.utils.translation import gettext

from faces.http import FetchError
from faces.sources.base import Item, Listing, SourceKind, html_to_text, parse_time


def not_a_handle(locator: str) -> str:
    return gettext("%(locator)r: expected a Mastodon handle like name@instance.example") % {"locator": locator}


def split_handle(locator: str) -> tuple[str, str]:
    handle = locator.strip().lstrip("@")
    if handle.count("@") != 1:
        raise FetchError(not_a_handle(locator))
    user, instance = handle.split("@")
    if not user or not instance:
        raise FetchError(not_a_handle(locator))
    return user, instance


class MastodonKind(SourceKind):
    kind = "mastodon"

    def list_new(self) -> Listing:
        user, instance = split_handle(self.source.locator)
        base = (self.options.get("base_url") or f"https://{instance}").rstrip("/")
        state = self.source.state or {}
        account_id = state.get("account_id")
        if not account_id:
            account = self.fetcher.get(f"{base}/api/v1/accounts/lookup?acct={quote(user)}").json()
            account_id = str(account.get("id") or "")
            if not account_id:
                raise FetchError(gettext("%(handle)s: the account lookup gave no id") % {"handle": self.source.locator})
        since_id = state.get("since_id")
        statuses: list[dict] = []
        max_id = None
        for _ in range(self.max_pages):
            url = f"{base}/api/v1/accounts/{account_id}/statuses?only_media=true&limit=40"
            if since_id:
                url += f"&since_id={since_id}"
            if max_id:
                url += f"&max_id={max_id}"
            page = self.fetcher.get(url, headers={"Accept": "application/json"}).json()
            if not isinstance(page, list):
                raise FetchError(gettext("%(url)s: expected a list of statuses") % {"url": url})
            if not page:
                break
            statuses.extend(page)
            max_id = page[-1].get("id")
        skip_reposts = bool(self.options.get("skip_reposts", True))
        items: list[Item] = []
        for status in sorted(statuses, key=lambda s: (len(str(s.get("id", ""))), str(s.get("id", "")))):
            status_id = str(status.get("id", ""))
            shown = status
            if status.get("reblog"):
                if skip_reposts:
                    continue
                shown = status["reblog"]
            images = [m for m in shown.get("media_attachments", []) if m.get("type") == "image" and m.get("url")]
            for media in images:
                items.append(
                    Item(
                        item_id=f"{status_id}:{media.get('id', media['url'])}"[:255],
                        url=media["url"],
                        page_url=shown.get("url") or shown.get("uri") or "",
                        author=(shown.get("account") or {}).get("acct", user),
                        caption=html_to_text(shown.get("content", "")),
                        posted_at=parse_time(shown.get("created_at")),
                        cursor={"since_id": status_id},
                    )
                )
        newest = max((str(s.get("id")) for s in statuses), key=lambda i: (len(i), i), default=since_id)
        return Listing(items=items, state={"account_id": account_id, "since_id": newest})
