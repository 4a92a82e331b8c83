"""A fake LINE Messaging API on 127.0.0.1 (for the bots' tests and bench/bots.py), speaking the
documented shapes: the content of a message, reply (400 "Invalid reply token" for a token it
was told is expired, or already used) and push (409 for a retry key seen before); and signed
webhook bodies as LINE sends them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.webserver import Answer, LocalWebServer, Request

JSON = {"Content-Type": "application/json"}


@dataclass
class Sent:
    via: str  # "reply" or "push"
    body: dict[str, Any]
    token: str  # the Authorization header's bearer token
    at: float = field(default_factory=time.monotonic)

    @property
    def texts(self) -> list[str]:
        return [m["text"] for m in self.body["messages"] if m["type"] == "text"]

    @property
    def images(self) -> list[dict[str, Any]]:
        return [m for m in self.body["messages"] if m["type"] == "image"]


class FakeLine:
    """``api`` and ``data`` are its two hosts (one server here). ``outages``: answers given to
    the next replies or pushes before the real ones (a 500, say)."""

    def __init__(self) -> None:
        self.server = LocalWebServer()
        self.sent: list[Sent] = []
        self.expired: set[str] = set()
        self.outages: list[Answer] = []
        self.retry_keys: set[str] = set()
        self.arrived = threading.Condition()
        self.server.routes["/v2/bot/message/reply"] = self._reply
        self.server.routes["/v2/bot/message/push"] = self._push

    @property
    def url(self) -> str:
        return self.server.base

    def image(self, message_id: str, data: bytes | Answer) -> None:
        answer = data if isinstance(data, Answer) else Answer(200, data, {"Content-Type": "image/jpeg"})
        self.server.routes[f"/v2/bot/message/{message_id}/content"] = answer

    def content_hits(self, message_id: str) -> int:
        return self.server.hits(f"/v2/bot/message/{message_id}/content")

    def _record(self, via: str, request: Request) -> Answer | None:
        if self.outages:
            return self.outages.pop(0)
        body = json.loads(request.body)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self.arrived:
            self.sent.append(Sent(via, body, token))
            self.arrived.notify_all()
        return None

    def _reply(self, request: Request) -> Answer:
        reply_token = json.loads(request.body).get("replyToken", "")
        if reply_token in self.expired:
            return Answer(400, b'{"message":"Invalid reply token"}', JSON)
        refused = self._record("reply", request)
        if refused is not None:
            return refused
        self.expired.add(reply_token)  # a reply token works once
        return Answer(200, b'{"sentMessages":[{"id":"1","quoteToken":"q"}]}', JSON)

    def _push(self, request: Request) -> Answer:
        key = request.headers.get("x-line-retry-key", "")
        if key and key in self.retry_keys:
            return Answer(409, b'{"message":"The retry key is already accepted"}', JSON)
        refused = self._record("push", request)
        if refused is not None:
            return refused
        if key:
            self.retry_keys.add(key)
        return Answer(200, b'{"sentMessages":[{"id":"2","quoteToken":"q"}]}', JSON)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Sent]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.sent) >= count, timeout=timeout)
        return self.sent

    def __enter__(self) -> FakeLine:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.__exit__(*exc)


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def source(chat: str = "user", chat_id: str = "U0001") -> dict[str, str]:
    key = {"user": "userId", "group": "groupId", "room": "roomId"}[chat]
    found = {"type": chat, key: chat_id}
    if chat != "user":
        found["userId"] = "U0001"
    return found


def event(
    event_id: str,
    message: dict[str, Any] | None = None,
    *,
    type_: str = "message",
    reply_token: str | None = None,
    chat: str = "user",
    chat_id: str = "U0001",
    redelivery: bool = False,
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "type": type_,
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": source(chat, chat_id),
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": redelivery},
        "replyToken": reply_token or f"rt-{event_id}",
    }
    if message is not None:
        found["message"] = message
    return found


def image_event(event_id: str, message_id: str, **kwargs: Any) -> dict[str, Any]:
    return event(event_id, {"type": "image", "id": message_id, "contentProvider": {"type": "line"}}, **kwargs)


def text_event(event_id: str, text: str = "hello", *, mention_me: bool = False, **kwargs: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "text", "id": f"t-{event_id}", "text": text}
    if mention_me:
        message["mention"] = {"mentionees": [{"index": 0, "length": 4, "type": "user", "isSelf": True}]}
    return event(event_id, message, **kwargs)


def webhook_body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"destination": "Ubot", "events": list(events)}).encode()
