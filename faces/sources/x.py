"""An X (Twitter) account through the API v2 with a bearer token:
``/2/users/by/username/:name`` gives the user id; ``/2/users/:id/tweets`` with
``expansions=attachments.media_keys&media.fields=url,type`` lists tweets and their photos,
paged with ``pagination_token`` and bounded below by ``since_id``. Retweets are skipped unless
the source's option ``skip_reposts`` is false."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from django.conf import settings
from django.utils.translation import gettext

from faces.http import FetchError
from faces.sources.base import Item, Listing, SourceKind, parse_time


class XKind(SourceKind):
    kind = "x"

    def list_new(self) -> Listing:
        token = self.options.get("bearer_token") or settings.IDOLSITE_X_BEARER_TOKEN
        if not token:
            raise FetchError(gettext("X sources need a bearer token: set IDOLSITE_X_BEARER_TOKEN"))
        name = self.source.locator.strip().lstrip("@")
        base = (self.options.get("base_url") or settings.IDOLSITE_X_API_BASE).rstrip("/")
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        state = self.source.state or {}
        user_id = state.get("user_id")
        if not user_id:
            user = self.fetcher.get(f"{base}/2/users/by/username/{quote(name)}", headers=headers).json()
            user_id = str((user.get("data") or {}).get("id") or "")
            if not user_id:
                raise FetchError(gettext("X user %(name)r not found") % {"name": name})
        since_id = state.get("since_id")
        skip_reposts = bool(self.options.get("skip_reposts", True))
        tweets: list[dict] = []
        media: dict[str, dict] = {}
        token_param = ""
        for _ in range(self.max_pages):
            url = (
                f"{base}/2/users/{user_id}/tweets?max_results=100&expansions=attachments.media_keys"
                "&media.fields=url,type&tweet.fields=created_at,referenced_tweets,author_id"
            )
            if skip_reposts:
                url += "&exclude=retweets"
            if since_id:
                url += f"&since_id={since_id}"
            if token_param:
                url += f"&pagination_token={quote(token_param)}"
            page = self.fetcher.get(url, headers=headers).json()
            if not isinstance(page, dict):
                raise FetchError(gettext("%(url)s: not a timeline") % {"url": url})
            tweets.extend(page.get("data") or [])
            for item in (page.get("includes") or {}).get("media") or []:
                media[item.get("media_key", "")] = item
            token_param = (page.get("meta") or {}).get("next_token", "")
            if not token_param:
                break
        items: list[Item] = []
        for tweet in sorted(tweets, key=lambda t: (len(str(t.get("id", ""))), str(t.get("id", "")))):
            tweet_id = str(tweet.get("id", ""))
            retweet = any(r.get("type") == "retweeted" for r in tweet.get("referenced_tweets") or [])
            if retweet and skip_reposts:
                continue
            for key in (tweet.get("attachments") or {}).get("media_keys") or []:
                found = media.get(key) or {}
                if found.get("type") != "photo" or not found.get("url"):
                    continue
                url = found["url"]
                if urlsplit(url).hostname == "pbs.twimg.com" and "?" not in url:
                    url += "?name=orig"  # the original size
                items.append(
                    Item(
                        item_id=f"{tweet_id}:{key}"[:255],
                        url=url,
                        page_url=f"https://x.com/{name}/status/{tweet_id}",
                        author=name,
                        caption=tweet.get("text", ""),
                        posted_at=parse_time(tweet.get("created_at")),
                        cursor={"since_id": tweet_id},
                    )
                )
        newest = max((str(t.get("id")) for t in tweets), key=lambda i: (len(i), i), default=since_id)
        return Listing(items=items, state={"user_id": user_id, "since_id": newest})
