"""The Mastodon bot: reads its mentions (polling, ``since_id`` kept) and replies in thread to a
mention with a photo: who is in it, the visibility of the mention kept.

A poll (``bots.tasks.poll_mastodon``, one django-q2 schedule per enabled bot, ``bots.schedules``)
claims the bot (``services.bot_poll_claim``), records each new mention as a ``BotQuestion``
(oldest first, ``since_id`` saved after each), then answers the questions still open. A status is
answered once: the question's row is unique per status, and a question taken again after its
worker died first looks in the thread for a reply of ours (and the reply carries an
Idempotency-Key) before posting. Rate limits, 5xx and network errors stop the poll and pause
the bot, 1, 2, 4 ... minutes (or until the rate limit resets); a poll that ends well resets that.

Mentions answered: any status that carries an image, and a status without one that starts a
conversation (the help text). A reply without an image in a thread the bot is in merely
mentions it (people reply to the bot's answer with "@bot thanks"): it is not answered, nor
is a status without an image from an account flagged as a bot, nor any status of our own, so
two bots never answer each other in a loop.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext

from bots.answers import Answer, answer_image, help_text, limit_text
from bots.models import BotAccount, BotQuestion
from bots.services import (
    STALE_CLAIM,
    bot_poll_claim,
    bot_poll_failed,
    bot_poll_succeeded,
    bot_since_id_save,
    question_answered,
    question_claim,
    question_failed,
    question_record,
)

logger = logging.getLogger(__name__)

USER_AGENT = "idolsite-bot/0.1"
PAGE = 40  # notifications a request, Mastodon's most
FIRST_PAGES = 5  # a new bot answers at most this many pages of mentions made since it was added
STATUS_CHARACTERS = 500  # Mastodon's default limit of a status
DESCRIPTION_CHARACTERS = 1500  # and of a picture's description
# A question whose image could not be fetched (or whose reply could not be posted) is tried in
# this many polls, then answered as unreadable (or recorded as failed).
MAX_ATTEMPTS = 3
FIRST_BACKOFF = timedelta(minutes=1)
# The oldest server the bot speaks to: notifications by type (3.5), pictures by /api/v2/media (3.1.4).
SERVER_VERSION = "4.0.0"
REQUEST_TIMEOUT = 30.0  # seconds, each API request
MEDIA_WAIT = 10.0  # seconds a posted picture may stay "processing" before the reply goes without it


def client(bot: BotAccount) -> Any:
    """A Mastodon.py client of the bot. Rate limits raise (``throw``): the poll stops and the bot
    pauses, no worker sleeps through a limit. The server's version is given, not asked: asking
    costs requests each poll, and Mastodon.py 2.3 recurses without end when the instance does
    not answer while it asks (at the first picture posted)."""
    from mastodon import Mastodon

    return Mastodon(
        api_base_url=bot.server,
        access_token=bot.token,
        ratelimit_method="throw",
        request_timeout=REQUEST_TIMEOUT,
        mastodon_version=SERVER_VERSION,
        version_check_mode="created",
        user_agent=USER_AGENT,
    )


def poll_lease() -> timedelta:
    # A task runs at most IDOLSITE_TASK_TIMEOUT: after that the poll's worker is gone.
    return timedelta(seconds=settings.IDOLSITE_TASK_TIMEOUT + 30)


@dataclass
class PollResult:
    recorded: int = 0
    answered: int = 0
    error: str = ""


def poll(bot_id: int) -> PollResult | None:
    """One poll of a bot; None when it is not to be polled now (gone, off, paused, or another
    worker polls it)."""
    bot = bot_poll_claim(bot_id=bot_id, lease=poll_lease())
    if bot is None:
        return None
    from mastodon import MastodonError

    api = None
    result = PollResult()
    try:
        api = client(bot)
        session = _Session(bot, api)
        result.recorded = session.read_mentions()
        result.answered = session.answer_open()
    except MastodonError as exc:
        result.error = _error_text(bot, exc)
        bot_poll_failed(bot=bot, error=result.error, retry_after=_retry_after(bot, api, exc))
        logger.warning("mastodon bot %s: poll stopped: %s", bot.name, result.error)
        return result
    except Exception as exc:
        bot_poll_failed(bot=bot, error=_error_text(bot, exc), retry_after=_retry_after(bot, api, exc))
        raise
    bot_poll_succeeded(bot=bot)
    return result


def _error_text(bot: BotAccount, exc: BaseException) -> str:
    text = f"{exc.__class__.__name__}: {exc}"
    return text.replace(bot.token, "***") if bot.token else text


def _retry_after(bot: BotAccount, api: Any, exc: BaseException) -> timedelta:
    """1, 2, 4 ... minutes after each error in a row, at most IDOLSITE_MASTODON_MAX_BACKOFF; after
    a rate limit at least until the server says it resets."""
    from mastodon import MastodonRatelimitError

    most = timedelta(seconds=settings.IDOLSITE_MASTODON_MAX_BACKOFF)
    wait = min(most, FIRST_BACKOFF * 2 ** min(bot.failures, 20))
    reset = getattr(api, "ratelimit_reset", None)
    if isinstance(exc, MastodonRatelimitError) and reset:
        wait = max(wait, min(most, timedelta(seconds=reset - time.time())))
    return wait


def _refused(exc: BaseException) -> bool:
    """A 4xx of the API other than a rate limit or a bad token: about one status, not the bot."""
    from mastodon import MastodonAPIError, MastodonServerError, MastodonUnauthorizedError

    if not isinstance(exc, MastodonAPIError) or isinstance(exc, MastodonServerError | MastodonUnauthorizedError):
        return False
    status = exc.args[1] if len(exc.args) > 1 else None
    return isinstance(status, int) and 400 <= status < 500 and status not in (401, 403, 429)


def _id_key(value: Any) -> tuple[int, str]:
    # Mastodon's ids are numbers as strings: a longer one is newer.
    text = str(value)
    return (len(text), text)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    try:
        value = obj[name]
    except (KeyError, TypeError, IndexError):
        return default
    return default if value is None else value


class _Session:
    """One poll of one bot: its client, and its own account's id once asked for."""

    def __init__(self, bot: BotAccount, api: Any) -> None:
        self.bot = bot
        self.api = api
        self._own_id: str | None = None

    def own_id(self) -> str:
        if self._own_id is None:
            self._own_id = str(self.api.account_verify_credentials()["id"])
        return self._own_id

    # --- reading -------------------------------------------------------------------------------

    def read_mentions(self) -> int:
        """Record every mention newer than ``since_id``, oldest first. ``min_id`` pages forward
        from the last one seen (``since_id`` would give the newest page and skip a gap)."""
        recorded = 0 if self.bot.since_id else self._read_first()
        while True:
            page = self.api.notifications(types=["mention"], min_id=self.bot.since_id, limit=PAGE)
            newer = [n for n in page or [] if _id_key(n["id"]) > _id_key(self.bot.since_id)]
            if not newer:
                return recorded
            recorded += self._record_all(newer)

    def _read_first(self) -> int:
        """A bot's first poll: the mentions since the bot was added, paged back from the newest
        (older ones were not questions to it)."""
        seen, found, max_id = [], [], None
        for _ in range(FIRST_PAGES):
            page = list(self.api.notifications(types=["mention"], max_id=max_id, limit=PAGE) or [])
            seen += page
            found += [n for n in page if not self._before_bot(n)]
            if not page or any(self._before_bot(n) for n in page):
                break
            max_id = min(page, key=lambda n: _id_key(n["id"]))["id"]
        if found:
            return self._record_all(found)
        # Nothing to answer: the next poll starts after the newest mention ("0": after none).
        newest = max((str(n["id"]) for n in seen), key=_id_key, default="0")
        bot_since_id_save(bot=self.bot, since_id=newest)
        return 0

    def _before_bot(self, notification: Any) -> bool:
        created = _get(notification, "created_at")
        return isinstance(created, datetime) and created < self.bot.created_at

    def _record_all(self, notifications: list[Any]) -> int:
        recorded = 0
        for notification in sorted(notifications, key=lambda n: _id_key(n["id"])):
            if self._record(notification):
                recorded += 1
            bot_since_id_save(bot=self.bot, since_id=str(notification["id"]))
        return recorded

    def _record(self, notification: Any) -> bool:
        status = _get(notification, "status")
        if _get(notification, "type") != "mention" or status is None:
            return False
        account = _get(status, "account", {})
        images = [m for m in _get(status, "media_attachments", []) if _get(m, "type") == "image"]
        if not images and (_get(status, "in_reply_to_id") or _get(account, "bot", False)):
            return False
        if str(_get(account, "id", "")) == self.own_id():
            return False
        visibility = _get(status, "visibility", "public")
        image = images[0] if images else {}
        reply_to = {
            "status_id": str(status["id"]),
            "acct": str(_get(account, "acct", "")),
            "visibility": visibility,
            "image_url": str(_get(image, "url", "") or _get(image, "remote_url", "")),
        }
        kind = BotQuestion.Kind.IMAGE if images else BotQuestion.Kind.TEXT
        question = question_record(
            bot=self.bot, external_id=str(status["id"]), kind=kind, reply_to=reply_to, chat=visibility
        )
        return question is not None

    # --- answering -----------------------------------------------------------------------------

    def answer_open(self) -> int:
        """Answer the bot's questions not answered yet, oldest first: the new ones, those put back
        after an error, and those whose worker died mid-answer."""
        stale = timezone.now() - STALE_CLAIM
        open_ = Q(status=BotQuestion.Status.QUEUED) | Q(status=BotQuestion.Status.ANSWERING, claimed_at__lt=stale)
        answered = 0
        for question_id in self.bot.questions.filter(open_).order_by("received_at", "pk").values_list("pk", flat=True):
            if self._answer(question_id):
                answered += 1
        return answered

    def _answer(self, question_id: int) -> bool:
        question = question_claim(question_id=question_id)
        if question is None:
            return False
        question.bot = self.bot
        try:
            return self._answer_claimed(question)
        except Exception as exc:
            refused = _refused(exc)
            question_failed(
                question=question,
                error=_error_text(self.bot, exc),
                final=refused or question.attempts >= MAX_ATTEMPTS,
            )
            if refused:
                return False  # this status only (deleted, or a reply the server will not take)
            raise

    def _answer_claimed(self, question: BotQuestion) -> bool:
        reply_to = question.reply_to
        # Taken before: the last worker may have posted and died before recording it.
        if question.attempts > 1 and (posted := self._our_reply(reply_to["status_id"])):
            question_answered(question=question, text=posted, via="found")
            return True
        answer: Answer | None = None
        if question.status == BotQuestion.Status.LIMITED:
            text = limit_text(self.bot)
        elif question.kind == BotQuestion.Kind.TEXT:
            text = help_text(self.bot)
        else:
            data = self._download(question)
            if data is None:
                return False  # put back for the next poll
            if isinstance(data, str):
                text = data
            else:
                answer = answer_image(self.bot, data)
                text = answer.text
        body = status_text(reply_to["acct"], text)
        media_ids = [self._post_picture(answer)] if answer is not None and answer.image else None
        self.api.status_post(
            body,
            in_reply_to_id=reply_to["status_id"],
            visibility=reply_to["visibility"],
            media_ids=media_ids,
            language=self.bot.language,
            # The server too answers a second post with the same key by the first status.
            idempotency_key=f"idolsite-{self.bot.pk}-{reply_to['status_id']}",
        )
        if question.status == BotQuestion.Status.LIMITED:
            return False
        question_answered(question=question, text=body, via="status", answer=answer)
        return True

    def _download(self, question: BotQuestion) -> bytes | str | None:
        """The image's bytes; a reply text when it cannot be had; None to try again later."""
        from faces.http import Fetcher, FetchError

        url = question.reply_to.get("image_url", "")
        try:
            if not url:
                raise FetchError("no URL")
            return (
                Fetcher(max_bytes=settings.IDOLSITE_API_MAX_IMAGE_BYTES, retries=1)
                .get(url, headers={"Accept": "image/*"})
                .body
            )
        except FetchError as exc:
            if not exc.permanent and question.attempts < MAX_ATTEMPTS:
                question_failed(question=question, error=str(exc), final=False)
                return None
            with translation.override(self.bot.language):
                return gettext("I could not download this image (it may be too large, or gone).")

    def _post_picture(self, answer: Answer) -> Any:
        with translation.override(self.bot.language):
            description = gettext("Your photo with a numbered box on each face.")
        description = _cut(f"{description}\n{answer.text}", DESCRIPTION_CHARACTERS)
        media = self.api.media_post(
            answer.image, mime_type="image/jpeg", description=description, file_name="faces.jpg"
        )
        waited = 0.0
        # The v2 endpoint may answer before the picture is processed; a reply cannot carry it then.
        while _get(media, "url") is None and waited < MEDIA_WAIT:
            time.sleep(0.5)
            waited += 0.5
            media = self.api.media(media["id"])
        return media["id"]

    def _our_reply(self, status_id: str) -> str:
        """The text of a reply of ours to the status, or ""."""
        own = self.own_id()
        for status in _get(self.api.status_context(status_id), "descendants", []):
            if str(_get(status, "in_reply_to_id", "")) == status_id and str(_get(status["account"], "id")) == own:
                return _plain(_get(status, "content", ""))
        return ""


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: whole lines while they fit, then an ellipsis."""
    if len(text) <= limit:
        return text
    kept = ""
    for line in text.split("\n"):
        longer = f"{kept}\n{line}" if kept else line
        if len(longer) + 2 > limit:
            break
        kept = longer
    if not kept:  # one line too long: cut inside it
        return text[: limit - 1] + "…"
    return kept + "\n…"


def status_text(acct: str, text: str) -> str:
    """The reply: the asker named first (a direct reply reaches only those it names), the answer
    within Mastodon's 500 characters."""
    return _cut(f"@{acct} {text}" if acct else text, STATUS_CHARACTERS)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("br", "p") and self.parts:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _plain(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts).strip()
