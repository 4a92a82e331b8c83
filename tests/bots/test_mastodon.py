"""The Mastodon bot against a local server speaking Mastodon's API (tests/bots/fakemastodon.py):
replies in thread with the names, the mention's visibility kept, one reply a status whatever
happens (a second poll, a restart, a crash between posting and recording), rate limits and
server errors backed off, mentions that are not questions left alone."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from bots import mastodon
from bots.mastodon import poll, status_text
from bots.models import BotAccount, BotQuestion
from bots.services import bot_poll_claim
from bots.tasks import poll_mastodon
from tests.bots.conftest import PEOPLE, photo_of
from tests.bots.fakemastodon import FakeMastodon
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

TOKEN = "don-token-7f3a9c"


class WorkerKilled(BaseException):
    """The worker's process ends here: nothing after it runs, no handler catches it."""


@pytest.fixture
def server():
    with FakeMastodon(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def bot(mastodon_bot, server, settings):
    # The media files are on 127.0.0.1: the fetcher's guard lets only named hosts be internal.
    settings.IDOLSITE_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.IDOLSITE_FETCH_HOST_DELAY = 0
    settings.IDOLSITE_FETCH_BACKOFF = 0
    mastodon_bot.server = server.base
    mastodon_bot.token = TOKEN
    mastodon_bot.language = "en"
    mastodon_bot.created_at = timezone.now() - timedelta(minutes=1)
    mastodon_bot.save()
    return mastodon_bot


def later(bot: BotAccount, *, questions_too: bool = False) -> None:
    """Time passes: the bot's pause (or a dead worker's lease) is over; with ``questions_too``
    so are the claims of questions a dead worker held."""
    past = timezone.now() - timedelta(hours=1)
    BotAccount.objects.filter(pk=bot.pk).update(paused_until=past)
    if questions_too:
        BotQuestion.objects.filter(bot=bot).update(claimed_at=past)


def refreshed(bot: BotAccount) -> BotAccount:
    bot.refresh_from_db()
    return bot


# --- answers ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_photo_of_a_shared_person_gets_her_name_in_thread_with_its_visibility(real_recognizer, bot, server):
    asked = {
        person: server.mention(f"fan{n}", image=photo_of(person), visibility=visibility)
        for n, (person, visibility) in enumerate(zip(PEOPLE, ["direct", "unlisted", "private"], strict=True))
    }
    result = poll(bot.pk)
    assert result is not None and result.error == "" and result.answered == 3, result
    for n, person in enumerate(PEOPLE):
        status = asked[person]
        [reply] = server.replies_to(status["id"])
        assert reply["text"].startswith(f"@fan{n} "), reply["text"]
        assert real_recognizer[person].name in reply["text"], reply["text"]
        assert reply["visibility"] == status["visibility"]
        assert reply["language"] == "en" and not reply["media_attachments"]
    question = BotQuestion.objects.get(bot=bot, external_id=asked[PEOPLE[0]]["id"])
    assert question.status == "answered" and question.faces == 1 and question.chat == "direct"
    assert question.answer[0]["names"][0]["name"] == real_recognizer[PEOPLE[0]].name
    assert question.latency_ms is not None and len(question.image_sha256) == 64


def test_several_faces_get_the_numbered_picture_with_a_description(stub_recognizer, bot, server):
    stub_recognizer["say"]([(10, 10, 40, 40), (70, 10, 40, 40)], [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]])
    status = server.mention("fan", image=image_bytes(160, 80), visibility="unlisted")
    poll(bot.pk)
    [reply] = server.replies_to(status["id"])
    assert "2 faces, from the left:" in reply["text"] and "1. Aoi" in reply["text"] and "2. Beni" in reply["text"]
    [media] = reply["media_attachments"]
    assert media["description"].startswith("Your photo with a numbered box on each face.")
    assert "1. Aoi" in media["description"]
    data, content_type = server.files[media["url"].split(server.base)[1]]
    assert content_type == "image/jpeg" and data[:2] == b"\xff\xd8"
    assert reply["visibility"] == "unlisted"


def test_a_picture_still_processing_is_waited_for(stub_recognizer, bot, server):
    stub_recognizer["say"]([(10, 10, 40, 40), (70, 10, 40, 40)], [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]])
    server.processing = 2
    status = server.mention("fan", image=image_bytes(160, 80))
    poll(bot.pk)
    [reply] = server.replies_to(status["id"])
    assert reply["media_attachments"] and server.hits("GET", "/api/v1/media/") == 2


@pytest.mark.parametrize(
    ("faces", "rows", "image", "said"),
    [
        ([(10, 10, 40, 40)], [[0.34, 0.33, 0.33]], image_bytes(), "unknown (not sure enough)"),
        ([], [], image_bytes(), "I found no face in this image."),
        ([], [], b"not an image at all", "I could not read this image"),
    ],
    ids=["unknown", "no-face", "broken"],
)
def test_what_the_photo_holds_is_said_in_the_reply(stub_recognizer, bot, server, faces, rows, image, said):
    stub_recognizer["say"](faces, rows)
    status = server.mention("fan", image=image)
    poll(bot.pk)
    [reply] = server.replies_to(status["id"])
    assert reply["text"].startswith("@fan ") and said in reply["text"], reply["text"]
    assert not reply["media_attachments"]


def test_an_image_too_large_or_gone_gets_a_reply_that_says_so(stub_recognizer, bot, server, settings):
    settings.IDOLSITE_API_MAX_IMAGE_BYTES = 2048
    big = server.mention("fan", image=image_bytes(800, 600))
    gone = server.mention("fan2", image=image_bytes())
    del server.files[gone["media_attachments"][0]["url"].split(server.base)[1]]
    poll(bot.pk)
    for status in (big, gone):
        [reply] = server.replies_to(status["id"])
        assert "I could not download this image" in reply["text"], reply["text"]


def test_a_first_mention_without_an_image_gets_the_help_and_the_rest_are_left_alone(stub_recognizer, bot, server):
    stub_recognizer["say"]([(10, 10, 40, 40)], [[0.9, 0.05, 0.05]])
    question = server.mention("fan", text="@whois hello?")
    answer_thread = server.mention("fan", text="@whois thanks!", in_reply_to_id=question["id"])
    other_bot = server.mention("robot", text="@whois beep", bot=True)
    bot_photo = server.mention("robot", image=image_bytes(), bot=True)
    result = poll(bot.pk)
    [help_reply] = server.replies_to(question["id"])
    assert help_reply["text"].startswith("@fan Send me a photo")
    assert help_reply["in_reply_to_id"] == question["id"]
    assert server.replies_to(answer_thread["id"]) == [] and server.replies_to(other_bot["id"]) == []
    assert "Aoi" in server.replies_to(bot_photo["id"])[0]["text"]  # a bot with a photo asks
    assert result.recorded == 2 and BotQuestion.objects.filter(bot=bot).count() == 2


def test_our_own_statuses_are_never_answered(stub_recognizer, bot, server):
    stub_recognizer["say"]([(10, 10, 40, 40)], [[0.9, 0.05, 0.05]])
    server.mention(server.me["acct"], image=image_bytes())
    poll(bot.pk)
    assert server.posted == [] and not BotQuestion.objects.exists()


def test_mentions_from_before_the_bot_was_added_are_not_answered(stub_recognizer, bot, server):
    old = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    server.mention("fan", text="@whois old question", created_at=old)
    new = server.mention("fan", text="@whois new question")
    poll(bot.pk)
    assert [s["in_reply_to_id"] for s in server.posted] == [new["id"]]
    assert refreshed(bot).since_id == server.notifications[-1]["id"]


def test_over_the_daily_limit_the_reply_says_so(stub_recognizer, bot, server):
    stub_recognizer["say"]([(10, 10, 40, 40)], [[0.9, 0.05, 0.05]])
    bot.daily_limit = 1
    bot.save()
    first, second = server.mention("a", image=image_bytes()), server.mention("b", image=image_bytes())
    poll(bot.pk)
    assert "Aoi" in server.replies_to(first["id"])[0]["text"]
    assert "as many photos as I can today" in server.replies_to(second["id"])[0]["text"]
    assert BotQuestion.objects.get(external_id=second["id"]).status == "limited"


def test_many_mentions_are_paged_and_answered_oldest_first(stub_recognizer, bot, server):
    asked = [server.mention(f"fan{n}", text="@whois hi") for n in range(45)]
    result = poll(bot.pk)
    assert result.recorded == 45 and result.answered == 45
    assert [s["in_reply_to_id"] for s in server.posted] == [s["id"] for s in asked]
    assert server.hits("GET", "/api/v1/notifications") >= 3  # pages of 40, 5, then none
    assert refreshed(bot).since_id == server.notifications[-1]["id"]


def test_a_long_answer_is_cut_within_500_characters_at_a_line():
    lines = "\n".join(f"{n}. Somebody With A Rather Long Name 97%, Another Long Name 2%" for n in range(1, 20))
    text = status_text("fan@example.social", f"19 faces, from the left:\n{lines}")
    assert len(text) <= 500 and text.endswith("\n…") and text.startswith("@fan@example.social 19 faces")
    assert text.split("\n")[-2].endswith("2%")  # whole lines only
    assert status_text("fan", "x" * 600).endswith("…") and len(status_text("fan", "x" * 600)) == 500


# --- never twice --------------------------------------------------------------------------------


def test_a_second_poll_and_a_restart_never_reply_twice(stub_recognizer, bot, server):
    stub_recognizer["say"]([(10, 10, 40, 40)], [[0.9, 0.05, 0.05]])
    status = server.mention("fan", image=image_bytes())
    poll(bot.pk)
    poll(bot.pk)
    assert len(server.replies_to(status["id"])) == 1
    # A restart that lost the place (an old copy of the bot saved over it): read again, not answered again.
    BotAccount.objects.filter(pk=bot.pk).update(since_id="")
    BotAccount.objects.filter(pk=bot.pk).update(created_at=timezone.now() - timedelta(days=1))
    result = poll(bot.pk)
    assert result.recorded == 0 and len(server.replies_to(status["id"])) == 1
    assert server.hits("POST", "/api/v1/statuses") == 1


def test_a_crash_after_posting_before_recording_never_replies_twice(stub_recognizer, bot, server, monkeypatch):
    stub_recognizer["say"]([(10, 10, 40, 40)], [[0.9, 0.05, 0.05]])
    status = server.mention("fan", image=image_bytes())

    def killed(**kwargs):
        raise WorkerKilled

    with monkeypatch.context() as patch:
        patch.setattr(mastodon, "question_answered", killed)
        with pytest.raises(WorkerKilled):
            poll(bot.pk)
    assert len(server.replies_to(status["id"])) == 1
    question = BotQuestion.objects.get(bot=bot)
    assert question.status == "answering"
    assert poll(bot.pk) is None  # the dead worker's lease holds the bot for a while
    later(bot, questions_too=True)
    poll(bot.pk)
    assert len(server.replies_to(status["id"])) == 1 and server.hits("POST", "/api/v1/statuses") == 1
    assert server.hits("GET", f"/api/v1/statuses/{status['id']}/context") == 1
    question.refresh_from_db()
    assert question.status == "answered" and question.reply_via == "found" and "Aoi" in question.reply_text


def test_a_crash_before_posting_is_answered_after_the_claim_runs_out(stub_recognizer, bot, server, monkeypatch):
    stub_recognizer["say"]([(10, 10, 40, 40)], [[0.9, 0.05, 0.05]])
    status = server.mention("fan", image=image_bytes())

    def killed(*args, **kwargs):
        raise WorkerKilled

    with monkeypatch.context() as patch:
        patch.setattr(mastodon, "answer_image", killed)
        with pytest.raises(WorkerKilled):
            poll(bot.pk)
    later(bot)
    poll(bot.pk)
    assert server.posted == []  # another worker may still be on it
    later(bot, questions_too=True)
    poll(bot.pk)
    [reply] = server.replies_to(status["id"])
    assert "Aoi" in reply["text"]
    assert reply["idempotency_key"] == f"idolsite-{bot.pk}-{status['id']}"


# --- errors -------------------------------------------------------------------------------------


def test_a_rate_limit_pauses_the_bot_and_loses_no_reply(stub_recognizer, bot, server, caplog):
    stub_recognizer["say"]([(10, 10, 40, 40)], [[0.9, 0.05, 0.05]])
    status = server.mention("fan", image=image_bytes())
    server.fail("GET", "/api/v1/notifications", 429)
    before = timezone.now()
    with caplog.at_level(logging.WARNING):
        result = poll(bot.pk)
    assert result.error.startswith("MastodonRatelimitError") and server.posted == []
    bot = refreshed(bot)
    assert bot.failures == 1 and bot.paused_until >= before + timedelta(seconds=55)
    assert poll(bot.pk) is None and server.hits("GET", "/api/v1/notifications") == 1
    # Limited again while replying: the question waits for the next poll.
    later(bot)
    server.fail("POST", "/api/v1/statuses", 429)
    result = poll(bot.pk)
    assert result.error and server.posted == [] and refreshed(bot).failures == 2
    assert BotQuestion.objects.get(bot=bot).status == "queued"
    later(bot)
    result = poll(bot.pk)
    assert result.error == "" and "Aoi" in server.replies_to(status["id"])[0]["text"]
    bot = refreshed(bot)
    assert bot.failures == 0 and bot.paused_until is None and bot.last_error == ""
    assert TOKEN not in caplog.text


def test_server_errors_back_off_longer_each_time_and_reset_on_success(stub_recognizer, bot, server):
    waits = []
    for _ in range(3):
        server.fail("GET", "/api/v1/notifications", 503)
        start = timezone.now()
        result = poll(bot.pk)
        assert "503" in result.error
        bot = refreshed(bot)
        waits.append((bot.paused_until - start).total_seconds())
        later(bot)
    assert waits[0] == pytest.approx(60, abs=5) and waits[1] == pytest.approx(120, abs=5)
    assert waits[2] == pytest.approx(240, abs=5) and refreshed(bot).failures == 3
    status = server.mention("fan", text="@whois hi")
    poll(bot.pk)
    assert server.replies_to(status["id"]) and refreshed(bot).failures == 0


def test_errors_never_show_the_token(bot, server, caplog):
    server.token = "another-token"  # the bot's token is refused
    with caplog.at_level(logging.DEBUG):
        result = poll(bot.pk)
    assert "401" in result.error and TOKEN not in result.error
    server.__exit__()  # the server is gone: a network error
    later(bot)
    with caplog.at_level(logging.DEBUG):
        result = poll(bot.pk)
    assert result.error.startswith("MastodonNetworkError")
    bot = refreshed(bot)
    assert bot.failures == 2 and TOKEN not in bot.last_error and TOKEN not in caplog.text


def test_a_status_the_server_refuses_fails_alone(stub_recognizer, bot, server):
    first, second = server.mention("a", text="@whois hi"), server.mention("b", text="@whois hi")
    server.statuses.pop(first["id"])  # deleted before the reply: the server answers 404
    result = poll(bot.pk)
    assert result.error == "" and server.replies_to(second["id"])
    assert BotQuestion.objects.get(external_id=first["id"]).status == "failed"


# --- who polls ----------------------------------------------------------------------------------


def test_a_disabled_bot_is_not_polled_and_has_no_schedule(bot, server):
    assert Schedule.objects.filter(name=f"mastodon-bot-{bot.pk}", func="bots.tasks.poll_mastodon").exists()
    bot.enabled = False
    bot.save()
    server.mention("fan", text="@whois hi")
    assert poll(bot.pk) is None and poll_mastodon(bot.pk).startswith("gone, off")
    assert server.requests == []
    assert not Schedule.objects.filter(name=f"mastodon-bot-{bot.pk}").exists()


def test_only_mastodon_bots_get_a_schedule_and_it_goes_with_the_bot(line_bot, bot):
    assert not Schedule.objects.filter(name=f"mastodon-bot-{line_bot.pk}").exists()
    assert poll(line_bot.pk) is None
    bot.delete()
    assert not Schedule.objects.filter(name__startswith="mastodon-bot-").exists()


def test_two_workers_never_poll_one_bot_at_once(bot):
    assert bot_poll_claim(bot_id=bot.pk, lease=timedelta(minutes=5)) is not None
    assert bot_poll_claim(bot_id=bot.pk, lease=timedelta(minutes=5)) is None
    assert poll_mastodon(bot.pk) == "gone, off, paused or being polled"


def test_the_task_says_what_it_did(bot, server):
    server.mention("fan", text="@whois hi")
    assert poll_mastodon(bot.pk) == "1 recorded, 1 answered"


def test_a_japanese_bot_replies_in_japanese(stub_recognizer, bot, server):
    stub_recognizer["say"]([(10, 10, 40, 40), (70, 10, 40, 40)], [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]])
    bot.language = "ja"
    bot.save()
    photo = server.mention("fan", image=image_bytes(160, 80))
    gone = server.mention("fan", image=image_bytes())
    del server.files[gone["media_attachments"][0]["url"].split(server.base)[1]]
    poll(bot.pk)
    [reply] = server.replies_to(photo["id"])
    assert reply["language"] == "ja"
    assert reply["media_attachments"][0]["description"].startswith("いただいた写真です。")
    assert "画像をダウンロードできませんでした" in server.replies_to(gone["id"])[0]["text"]
