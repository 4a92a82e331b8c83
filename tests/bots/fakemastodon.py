"""A Mastodon server on 127.0.0.1 for the bot's tests and benchmark, speaking the documented
shapes of the endpoints the bot uses: the instance (v1, v2), verify_credentials, notifications
(types[], min_id, since_id, max_id, limit, Link headers), statuses (POST, with Idempotency-Key
and media_ids[]), a status's context, media (v2 POST, multipart) and the media files. Errors are
queued per endpoint: ``fail("GET", "/api/v1/notifications", 429)``."""

from __future__ import annotations

import email.parser
import email.policy
import html
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeMastodon:
    def __init__(self, *, token: str = "don-token", username: str = "whois") -> None:
        self.token = token
        self.lock = threading.Lock()
        self.next_id = 110_000_000_000_000_000
        self.accounts: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.media: dict[str, dict[str, Any]] = {}
        self.files: dict[str, tuple[bytes, str]] = {}
        self.posted: list[dict[str, Any]] = []  # the statuses the bot posted, in order
        self.requests: list[Seen] = []
        self.failures: list[tuple[str, str, int, dict[str, str]]] = []
        self.on_post: Any = None  # called with each status the bot posts (the benchmark's clock)
        self.processing = 0  # a picture posted is "processing" (url null) for this many GETs of it
        self.me = self.account(username, bot=True)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # --- the test's side -----------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeMastodon:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _id(self) -> str:
        with self.lock:
            self.next_id += 1
            return str(self.next_id)

    def account(self, username: str, *, bot: bool = False) -> dict[str, Any]:
        account = {
            "id": self._id(),
            "username": username,
            "acct": username,
            "display_name": username.title(),
            "locked": False,
            "bot": bot,
            "group": False,
            "created_at": _now(),
            "note": "",
            "url": f"https://fake.example/@{username}",
            "avatar": "",
            "avatar_static": "",
            "header": "",
            "header_static": "",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": 0,
            "emojis": [],
            "fields": [],
        }
        self.accounts[account["id"]] = account
        return account

    def serve_file(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        self.files[f"/files/{name}"] = (data, content_type)
        return f"{self.base}/files/{name}"

    def status(
        self,
        account: dict[str, Any],
        text: str,
        *,
        visibility: str = "public",
        in_reply_to_id: str | None = None,
        media: list[dict[str, Any]] | None = None,
        created_at: str | None = None,
    ) -> dict[str, Any]:
        status_id = self._id()
        parent = self.statuses.get(in_reply_to_id or "")
        status = {
            "id": status_id,
            "uri": f"https://fake.example/statuses/{status_id}",
            "url": f"https://fake.example/@{account['acct']}/{status_id}",
            "created_at": created_at or _now(),
            "account": account,
            "content": "<p>" + html.escape(text).replace("\n", "<br>") + "</p>",
            "visibility": visibility,
            "sensitive": False,
            "spoiler_text": "",
            "media_attachments": media or [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "reblogs_count": 0,
            "favourites_count": 0,
            "replies_count": 0,
            "in_reply_to_id": in_reply_to_id,
            "in_reply_to_account_id": parent["account"]["id"] if parent else None,
            "reblog": None,
            "language": "ja",
        }
        self.statuses[status_id] = status
        return status

    def mention(
        self,
        acct: str = "fan",
        *,
        image: bytes | None = None,
        images: list[bytes] | None = None,
        visibility: str = "public",
        in_reply_to_id: str | None = None,
        bot: bool = False,
        text: str = "",
        created_at: str | None = None,
    ) -> dict[str, Any]:
        """A status of ``acct`` mentioning the bot with these images, and its notification."""
        account = next((a for a in self.accounts.values() if a["acct"] == acct), None) or self.account(acct, bot=bot)
        media = []
        for data in images if images is not None else [image] if image is not None else []:
            media_id = self._id()
            url = self.serve_file(f"{media_id}.jpg", data)
            media.append({"id": media_id, "type": "image", "url": url, "preview_url": url, "remote_url": None})
        status = self.status(
            account,
            text or f"@{self.me['acct']} who is this?",
            visibility=visibility,
            in_reply_to_id=in_reply_to_id,
            media=media,
            created_at=created_at,
        )
        status["mentions"] = [{"id": self.me["id"], "username": self.me["username"], "acct": self.me["acct"]}]
        self.notifications.append(
            {
                "id": self._id(),
                "type": "mention",
                "created_at": status["created_at"],
                "account": account,
                "status": status,
            }
        )
        return status

    def fail(self, method: str, path: str, status: int, headers: dict[str, str] | None = None) -> None:
        """The next ``method`` request to ``path`` (a prefix) answers ``status``."""
        self.failures.append((method, path, status, headers or {}))

    def hits(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path.startswith(path))

    def replies_to(self, status_id: str) -> list[dict[str, Any]]:
        return [s for s in self.posted if s["in_reply_to_id"] == status_id]

    # --- the server's side ---------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        body = handler.rfile.read(int(headers.get("content-length") or 0)) if method == "POST" else b""
        seen = Seen(method, url.path, parse_qs(url.query), headers)
        self.requests.append(seen)
        status, payload, extra = self._route(method, url.path, seen, body)
        if isinstance(payload, bytes):
            data, content_type = payload, extra.pop("Content-Type", "application/octet-stream")
        else:
            data, content_type = json.dumps(payload).encode(), "application/json; charset=utf-8"
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, seen: Seen, body: bytes) -> tuple[int, Any, dict[str, str]]:
        limit = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "299"}
        for number, (f_method, f_path, f_status, f_headers) in enumerate(self.failures):
            if f_method == method and path.startswith(f_path):
                del self.failures[number]
                if f_status == 429:
                    reset = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
                    headers = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
                    return 429, {"error": "Too many requests"}, {**headers, **f_headers}
                return f_status, {"error": f"HTTP {f_status}"}, dict(f_headers)
        if path in self.files and method == "GET":
            data, content_type = self.files[path]
            return 200, data, {"Content-Type": content_type}
        path = path.rstrip("/") or "/"
        if path == "/api/v1/instance":
            return 200, {"uri": "fake.example", "title": "Fake", "version": "4.3.0", "urls": {}, "stats": {}}, {}
        if path == "/api/v2/instance":
            config = {"statuses": {"max_characters": 500, "max_media_attachments": 4}}
            instance = {"domain": "fake.example", "title": "Fake", "version": "4.3.0", "configuration": config}
            return 200, {**instance, "api_versions": {"mastodon": 2}}, {}
        if seen.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "The access token is invalid"}, {}
        if path == "/api/v1/accounts/verify_credentials" and method == "GET":
            return 200, {**self.me, "source": {"privacy": "public", "note": "", "fields": []}}, limit
        if path == "/api/v1/notifications" and method == "GET":
            return self._notifications(seen, limit)
        if path == "/api/v1/statuses" and method == "POST":
            return self._post_status(seen, body, limit)
        if path.startswith("/api/v1/statuses/") and path.endswith("/context") and method == "GET":
            status_id = path.split("/")[4]
            if status_id not in self.statuses:
                return 404, {"error": "Record not found"}, limit
            return 200, {"ancestors": [], "descendants": self._descendants(status_id)}, limit
        if path == "/api/v2/media" and method == "POST":
            return self._post_media(seen, body, limit)
        if path.startswith("/api/v1/media/") and method == "GET":
            media = self.media.get(path.rsplit("/", 1)[1])
            if not media:
                return 404, {"error": "Record not found"}, limit
            media["pending"] = media.get("pending", 0) - 1
            return (206, {**media, "url": None}, limit) if media["pending"] > 0 else (200, media, limit)
        return 404, {"error": "Record not found"}, {}

    def _notifications(self, seen: Seen, limit: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        def key(value: str) -> tuple[int, str]:
            return (len(value), value)

        query = {k: v[-1] for k, v in seen.query.items()}
        types = seen.query.get("types[]")
        items = sorted(
            (n for n in self.notifications if not types or n["type"] in types), key=lambda n: key(n["id"]), reverse=True
        )
        if "max_id" in query:
            items = [n for n in items if key(n["id"]) < key(query["max_id"])]
        if "since_id" in query:
            items = [n for n in items if key(n["id"]) > key(query["since_id"])]
        count = min(int(query.get("limit", 40)), 80)
        if "min_id" in query:  # the page just after min_id, newest first
            items = [n for n in items if key(n["id"]) > key(query["min_id"])][-count:]
        else:
            items = items[:count]
        headers = dict(limit)
        if items:
            page = f"{self.base}/api/v1/notifications?types[]=mention&"
            headers["Link"] = (
                f'<{page}max_id={items[-1]["id"]}>; rel="next", <{page}min_id={items[0]["id"]}>; rel="prev"'
            )
        return 200, items, headers

    def _post_status(self, seen: Seen, body: bytes, limit: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        form = parse_qs(body.decode(), keep_blank_values=True)
        seen.form = form
        text = form.get("status", [""])[0]
        reply_to = form.get("in_reply_to_id", [None])[0]
        if reply_to is not None and reply_to not in self.statuses:
            return 404, {"error": "Record not found"}, limit
        if len(text) > 500:
            return 422, {"error": "Validation failed: Text character limit of 500 exceeded"}, limit
        media = [self.media[m] for m in form.get("media_ids[]", []) if m in self.media]
        status = self.status(
            self.me,
            text,
            visibility=form.get("visibility", ["public"])[0],
            in_reply_to_id=reply_to,
            media=media,
        )
        status["language"] = form.get("language", [None])[0]
        status["idempotency_key"] = seen.headers.get("idempotency-key")
        status["text"] = text
        self.posted.append(status)
        if self.on_post is not None:
            self.on_post(status)
        return 200, status, limit

    def _post_media(self, seen: Seen, body: bytes, limit: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        head = f"Content-Type: {seen.headers['content-type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
        if "file" not in parts:
            return 422, {"error": "Validation failed: File can't be blank"}, limit
        data = parts["file"].get_payload(decode=True)
        description = parts["description"].get_payload(decode=True).decode() if "description" in parts else None
        media_id = self._id()
        url = self.serve_file(f"{media_id}.jpg", data, parts["file"].get_content_type())
        media = {
            "id": media_id,
            "type": "image",
            "url": url,
            "preview_url": url,
            "remote_url": None,
            "description": description,
            "blurhash": None,
            "meta": {},
        }
        self.media[media_id] = media
        if self.processing:
            media["pending"] = self.processing
            return 202, {**media, "url": None}, limit
        return 200, media, limit

    def _descendants(self, status_id: str) -> list[dict[str, Any]]:
        found, todo = [], [status_id]
        while todo:
            parent = todo.pop(0)
            for status in self.statuses.values():
                if status["in_reply_to_id"] == parent:
                    found.append(status)
                    todo.append(status["id"])
        return found
