"""The LINE Messaging API transport: the webhook's events recorded and queued, then each
question answered by a worker (``bots.tasks.line_answer``).

What gets an answer: an image message (who is in it), and the help text for a follow (the bot
added as a friend), a join (added to a group or room), any other message in a one-to-one chat,
and a text message that mentions the bot in a group or room (other talk in a group is not the
bot's business). Everything else (unfollow, leave, postbacks, standby-mode events) is ignored.

The answer goes back with the event's reply token; when LINE refuses it (used or expired) it is
pushed to the chat instead. The channel's secret and token are sent to LINE only: no log line
or recorded error holds them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext, pgettext

from bots.answers import Answer, answer_image, help_text, limit_text
from bots.models import BotAccount, BotQuestion
from bots.pictures import picture_store
from bots.services import question_answered, question_claim, question_failed, question_record

log = logging.getLogger(__name__)

# A webhook body is a few kilobytes (LINE sends events in small batches).
MAX_BODY = 1024 * 1024
# Tries of one question in all; transient failures wait RETRY_DELAYS[n] seconds before the next.
MAX_ATTEMPTS = 4
RETRY_DELAYS = (10, 60, 300)
# LINE's limit of one text message.
MAX_TEXT = 5000


class LineError(Exception):
    """LINE did not take a call. ``permanent``: trying again will not help (a refused token, a
    message it rejects); otherwise (no answer, 429, 5xx) the question is tried again later."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


# --- the webhook --------------------------------------------------------------------------


def signature_valid(*, secret: str, body: bytes, signature: str) -> bool:
    """``X-Line-Signature`` is the base64 HMAC-SHA256 of the raw body with the channel secret."""
    if not secret or not signature:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("ascii", "replace"))


def events_parse(body: bytes) -> list[dict[str, Any]]:
    """The events of a webhook body, or ValueError when it is not LINE's shape."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError("not JSON") from None
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ValueError("no list of events")
    return events


@dataclass(frozen=True)
class Incoming:
    event_id: str
    kind: str
    chat: str
    reply_to: dict[str, str]


def _mentions_the_bot(message: dict[str, Any]) -> bool:
    mentionees = (message.get("mention") or {}).get("mentionees") or []
    return any(isinstance(m, dict) and m.get("isSelf") is True for m in mentionees)


def incoming(event: dict[str, Any]) -> Incoming | None:
    """The question an event asks, or None when it asks none the bot answers."""
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    chat = source.get("type")
    to = {"user": source.get("userId"), "group": source.get("groupId"), "room": source.get("roomId")}.get(chat)
    event_id, reply_token = event.get("webhookEventId"), event.get("replyToken") or ""
    if event.get("mode") == "standby" or not isinstance(event_id, str) or not event_id or not isinstance(to, str):
        return None
    reply_to = {"reply_token": str(reply_token), "to": to}
    text = BotQuestion.Kind.TEXT
    if event.get("type") in ("follow", "join"):
        return Incoming(event_id, text, chat, reply_to)
    if event.get("type") != "message" or not isinstance(event.get("message"), dict):
        return None
    message = event["message"]
    if message.get("type") == "image" and message.get("id"):
        return Incoming(event_id, BotQuestion.Kind.IMAGE, chat, {**reply_to, "message_id": str(message["id"])})
    if chat == "user" or (message.get("type") == "text" and _mentions_the_bot(message)):
        return Incoming(event_id, text, chat, reply_to)
    return None


def webhook_receive(*, bot: BotAccount, events: list[dict[str, Any]]) -> list[BotQuestion]:
    """Record the questions of a webhook and queue each once its row is committed; an event
    seen before (a redelivery: the same webhookEventId) is neither recorded nor queued again."""
    recorded = []
    with transaction.atomic():
        for event in events:
            found = incoming(event)
            if found is None:
                continue
            question = question_record(
                bot=bot, external_id=found.event_id, kind=found.kind, reply_to=found.reply_to, chat=found.chat
            )
            if question is not None:
                recorded.append(question)
                transaction.on_commit(lambda pk=question.pk: line_enqueue(question_id=pk))
    return recorded


def line_enqueue(*, question_id: int) -> None:
    from django_q.tasks import async_task

    async_task("bots.tasks.line_answer", question_id, task_name=f"line question {question_id}")


def _retry_later(question: BotQuestion) -> None:
    """Queue the question again after a pause (a schedule run once): a LINE outage or a
    detector that cannot run is not over a second later."""
    from django_q.models import Schedule

    delay = RETRY_DELAYS[min(question.attempts, len(RETRY_DELAYS)) - 1]
    Schedule.objects.create(
        name=f"line question {question.pk} try {question.attempts + 1}"[:100],
        func="bots.tasks.line_answer",
        args=str(question.pk),
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=timezone.now() + timedelta(seconds=delay),
    )


# --- calls to LINE ------------------------------------------------------------------------


def _timeout() -> tuple[float, float]:
    return (settings.IDOLSITE_FETCH_CONNECT_TIMEOUT, settings.IDOLSITE_FETCH_READ_TIMEOUT)


def _said(body: Any) -> str:
    """LINE's own words about a refusal (``{"message": ...}``), short."""
    try:
        said = json.loads(body).get("message", "")
    except (TypeError, ValueError, AttributeError):
        said = ""
    return str(said)[:200]


def _refused(status: int | None, body: Any, *, call: str) -> LineError:
    transient = not status or status == 429 or status >= 500
    said = _said(body)
    message = gettext("LINE answered %(status)s to the %(call)s") % {"status": status or "-", "call": call}
    return LineError(f"{message}: {said}" if said else message, permanent=not transient)


class TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


def content_fetch(bot: BotAccount, message_id: str) -> bytes:
    """The image of a message, from LINE's content server; TooLarge past the API's image limit."""
    import requests

    url = f"{settings.IDOLSITE_LINE_DATA_URL}/v2/bot/message/{quote(message_id, safe='')}/content"
    limit = settings.IDOLSITE_API_MAX_IMAGE_BYTES
    deadline = time.monotonic() + settings.IDOLSITE_FETCH_DEADLINE
    call = pgettext("a call to LINE", "image download")
    try:
        with requests.get(
            url,
            headers={"Authorization": f"Bearer {bot.token}"},
            stream=True,
            timeout=_timeout(),
            allow_redirects=False,
        ) as response:
            if response.status_code != 200:
                raise _refused(response.status_code, response.raw.read(4096, decode_content=True), call=call)
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > limit:
                raise TooLarge(declared)
            data = bytearray()
            for chunk in response.iter_content(64 * 1024):
                data += chunk
                if len(data) > limit:
                    raise TooLarge(len(data))
                if time.monotonic() > deadline:
                    raise LineError(gettext("LINE sent the image too slowly"), permanent=False)
            return bytes(data)
    except (requests.RequestException, ValueError) as exc:
        # The exception's name only: its text could name the request.
        raise LineError(
            gettext("LINE did not answer the %(call)s (%(error)s)") % {"call": call, "error": type(exc).__name__},
            permanent=False,
        ) from None


@contextmanager
def _messaging(bot: BotAccount) -> Iterator[Any]:
    from linebot.v3.messaging import ApiClient, Configuration, MessagingApi

    configuration = Configuration(host=settings.IDOLSITE_LINE_API_URL, access_token=bot.token)
    with ApiClient(configuration) as client:
        yield MessagingApi(client)


def _messages(text: str, picture: tuple[str, str] | None) -> list[Any]:
    from linebot.v3.messaging import ImageMessage, TextMessage

    messages: list[Any] = [TextMessage(text=text[:MAX_TEXT])]
    if picture is not None:
        messages.append(ImageMessage(original_content_url=picture[0], preview_image_url=picture[1]))
    return messages


def send(question: BotQuestion, messages: list[Any]) -> str:
    """Send the messages to the question's chat: "reply" with its reply token, else "push".

    A reply token works once and for a short while; LINE refuses a used or expired one with a
    400 "Invalid reply token", and then the answer is pushed to the user, group or room. A push
    carries a retry key made from the question, so a push tried again is delivered once."""
    import urllib3
    from linebot.v3.messaging import PushMessageRequest, ReplyMessageRequest
    from linebot.v3.messaging.exceptions import ApiException

    bot, reply_to = question.bot, question.reply_to
    try:
        with _messaging(bot) as api:
            if reply_to.get("reply_token"):
                try:
                    api.reply_message(
                        ReplyMessageRequest(reply_token=reply_to["reply_token"], messages=messages),
                        _request_timeout=_timeout(),
                    )
                    return "reply"
                except ApiException as exc:
                    if not (exc.status == 400 and "reply token" in _said(exc.body).lower()):
                        raise _refused(exc.status, exc.body, call=pgettext("a call to LINE", "reply")) from None
            key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"idolsite-line-push:{bot.pk}:{question.external_id}"))
            try:
                api.push_message(
                    PushMessageRequest(to=reply_to["to"], messages=messages),
                    x_line_retry_key=key,
                    _request_timeout=_timeout(),
                )
            except ApiException as exc:
                if exc.status != 409:  # 409: this retry key was accepted before, the push is delivered
                    raise _refused(exc.status, exc.body, call=pgettext("a call to LINE", "push")) from None
            return "push"
    except urllib3.exceptions.HTTPError as exc:
        raise LineError(
            gettext("LINE did not answer the %(call)s (%(error)s)")
            % {"call": pgettext("a call to LINE", "message"), "error": type(exc).__name__},
            permanent=False,
        ) from None


# --- the worker's part --------------------------------------------------------------------


def _too_large(bot: BotAccount, size: int) -> Answer:
    from faces.images import file_too_large

    with translation.override(bot.language):
        reason = file_too_large(size, settings.IDOLSITE_API_MAX_IMAGE_BYTES)
        return Answer(text=gettext("I could not read this image: %(reason)s") % {"reason": reason}, problem="too_large")


def question_answer(question_id: int) -> str:
    """Answer one recorded LINE question (the task ``bots.tasks.line_answer``): claimed by one
    worker; a transient failure is tried again later, up to MAX_ATTEMPTS tries in all."""
    from core.errors import Unavailable

    question = question_claim(question_id=question_id)
    if question is None:
        return f"line question {question_id}: skipped (gone, answered, failed or being answered)"
    bot = question.bot
    try:
        if question.status == BotQuestion.Status.LIMITED:
            text = limit_text(bot)
            question_answered(question=question, text=text, via=send(question, _messages(text, None)), limited=True)
            return f"line question {question_id}: over the daily limit, said so"
        if question.kind == BotQuestion.Kind.TEXT:
            text = help_text(bot)
            question_answered(question=question, text=text, via=send(question, _messages(text, None)))
            return f"line question {question_id}: help"
        try:
            answer = answer_image(bot, content_fetch(bot, question.reply_to.get("message_id", "")))
        except TooLarge as exc:
            answer = _too_large(bot, exc.size)
        picture = picture_store(answer.image) if answer.image else None
        via = send(question, _messages(answer.text, picture))
        question_answered(question=question, text=answer.text, via=via, answer=answer)
        return f"line question {question_id}: {len(answer.faces)} face(s), by {via}"
    except LineError as exc:
        error, permanent = str(exc), exc.permanent
    except Unavailable as exc:  # the detector or the embedder cannot run now
        error, permanent = gettext("the recognizer cannot run: %(error)s") % {"error": exc}, False
    except Exception as exc:  # a bug or a library failure: recorded, the worker goes on
        log.exception("LINE question %s failed", question_id)
        error, permanent = gettext("answering failed unexpectedly: %(error)s") % {"error": type(exc).__name__}, True
    again = not permanent and question.attempts < MAX_ATTEMPTS
    question_failed(question=question, error=error, final=not again)
    if again:
        _retry_later(question)
    log.warning("LINE question %s of bot %s: %s%s", question_id, bot.name, error, " (tried again later)" * again)
    return f"line question {question_id}: {error}"
