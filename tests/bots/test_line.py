"""The LINE bot end to end against a fake LINE API on 127.0.0.1: the webhook's signature, the
answer by reply (or push when the reply token is refused), the numbered picture at its public
URL, redeliveries, groups, the daily limit, bad images and LINE's own failures."""

from __future__ import annotations

import ast
import io
import logging

import pytest
from django_q.models import Schedule
from PIL import Image

from bots import tasks
from bots.models import BotAccount, BotQuestion
from tests.bots.conftest import PEOPLE, photo_of
from tests.factories import image_bytes
from tests.linefake import FakeLine, event, image_event, sign, text_event, webhook_body
from tests.webserver import Answer

pytestmark = pytest.mark.django_db

ONE_FACE = ([(20, 50, 80, 80)], [[0.9, 0.05, 0.05]])


@pytest.fixture
def fake_line(settings):
    with FakeLine() as fake:
        settings.IDOLSITE_LINE_API_URL = fake.url
        settings.IDOLSITE_LINE_DATA_URL = fake.url
        settings.IDOLSITE_PUBLIC_URL = "https://testserver"
        yield fake


@pytest.fixture
def bot(line_bot) -> BotAccount:
    line_bot.language = "en"
    line_bot.threshold = 0.5
    line_bot.save()
    return line_bot


@pytest.fixture
def post(client, bot, django_capture_on_commit_callbacks):
    """POST a webhook as LINE does (signed with the bot's secret unless ``signature`` says
    otherwise); the queued answers run when the request's transaction commits."""

    def post(*events, body: bytes | None = None, signature: str | None = None, name: str | None = None):
        body = webhook_body(*events) if body is None else body
        signature = sign(bot.secret, body) if signature is None else signature
        headers = {"X-Line-Signature": signature} if signature else {}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/bots/line/{name or bot.name}/", body, content_type="application/json", headers=headers
            )

    return post


def test_a_signed_image_is_answered_by_reply_and_a_bad_signature_changes_nothing(post, fake_line, bot, stub_recognizer):
    stub_recognizer["say"](*ONE_FACE)
    fake_line.image("m1", image_bytes(320, 240))
    ev = image_event("ev-1", "m1")
    body = webhook_body(ev)
    for signature in ("", "bm90IGEgc2lnbmF0dXJl", sign("another-secret", body), sign(bot.secret, body + b" ")):
        assert post(body=body, signature=signature).status_code == 400
    assert not BotQuestion.objects.exists() and fake_line.server.requests == []

    response = post(body=body)
    assert response.status_code == 200
    [sent] = fake_line.sent
    assert (sent.via, sent.body["replyToken"], sent.texts) == ("reply", "rt-ev-1", ["Aoi 90%, Beni 5%, Chiyo 5%"])
    assert sent.token == "line-token"
    question = BotQuestion.objects.get()
    assert (question.status, question.reply_via, question.chat, question.faces) == ("answered", "reply", "user", 1)
    assert question.latency_ms is not None and question.image_sha256 and question.answer[0]["names"][0]["name"] == "Aoi"


def test_the_webhook_is_post_only_and_refuses_bodies_not_lines(post, client, fake_line, bot):
    assert client.get(f"/bots/line/{bot.name}/").status_code == 405
    for body in (b"not json", b"[]", b'{"events": {}}', b'{"events": [1]}', b"\xff\xfe"):
        assert post(body=body).status_code == 400, body
    # LINE's "Verify" button: no events, a 200.
    assert post(body=b'{"destination": "U1", "events": []}').status_code == 200
    assert post(body=b" " * (2 * 1024 * 1024)).status_code == 413
    assert not BotQuestion.objects.exists()


def test_an_unknown_or_disabled_bot_is_not_found(post, fake_line, bot, stub_recognizer):
    fake_line.image("m1", image_bytes())
    assert post(image_event("ev-1", "m1"), name="nobody").status_code == 404
    bot.enabled = False
    bot.save()
    assert post(image_event("ev-1", "m1")).status_code == 404
    mastodon = BotAccount.objects.create(name="don", kind="mastodon", server="https://m.example", secret=bot.secret)
    assert post(image_event("ev-1", "m1"), name=mastodon.name).status_code == 404
    assert not BotQuestion.objects.exists() and fake_line.server.requests == []


def test_several_faces_get_the_numbered_picture_at_a_public_url(post, client, fake_line, stub_recognizer, settings):
    stub_recognizer["say"]([(300, 40, 80, 80), (20, 50, 80, 80)], [[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]])
    fake_line.image("m1", image_bytes(400, 200, seed=3))
    post(image_event("ev-1", "m1"))
    [sent] = fake_line.sent
    assert sent.texts == ["2 faces, from the left:\n1. Aoi 70%, Beni 20%, Chiyo 10%\n2. Beni 80%, Aoi 10%, Chiyo 10%"]
    [image] = sent.images
    for key, size in (("originalContentUrl", (400, 200)), ("previewImageUrl", (400, 200))):
        assert image[key].startswith("https://testserver/bots/pictures/")
        response = client.get(image[key].removeprefix("https://testserver"))
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
        picture = Image.open(io.BytesIO(b"".join(response.streaming_content)))
        assert picture.format == "JPEG" and picture.size == size
    # The name is the key: another one is not found, nor anything else of the storage.
    assert client.get("/bots/pictures/" + "x" * 43 + ".jpg").status_code == 404
    assert client.get("/bots/pictures/../answers.jpg").status_code == 404

    # Without an https address for the site, text only.
    settings.IDOLSITE_PUBLIC_URL = "http://idols.example"
    fake_line.image("m2", image_bytes(400, 200, seed=4))
    post(image_event("ev-2", "m2"))
    assert len(fake_line.sent) == 2 and fake_line.sent[1].images == []


def test_pictures_are_removed_a_day_later(post, client, fake_line, stub_recognizer, settings):
    import os
    import time

    stub_recognizer["say"]([(300, 40, 80, 80), (20, 50, 80, 80)], [[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]])
    fake_line.image("m1", image_bytes(400, 200, seed=3))
    post(image_event("ev-1", "m1"))
    old_url = fake_line.sent[0].images[0]["originalContentUrl"].removeprefix("https://testserver")
    folder = settings.MEDIA_ROOT / "bots" / "answers"
    day_ago = time.time() - 25 * 3600
    for path in folder.iterdir():
        os.utime(path, (day_ago, day_ago))
    assert client.get(old_url).status_code == 404  # past its time even before the purge
    fake_line.image("m2", image_bytes(400, 200, seed=4))
    post(image_event("ev-2", "m2"))  # the next picture stored purges the old ones
    assert len(list(folder.iterdir())) == 2


def test_a_huge_or_broken_image_gets_a_reply_that_says_so(post, fake_line, stub_recognizer, settings):
    settings.IDOLSITE_API_MAX_IMAGE_BYTES = 50_000
    fake_line.image("big", image_bytes(1200, 900, seed=1) + b"\0" * 60_000)
    fake_line.image("streamed", Answer(200, b"\xff\xd8" + b"\0" * 60_000, {"Content-Type": "image/jpeg"}, chunked=True))
    fake_line.image("broken", image_bytes()[:300])
    fake_line.image("html", b"<!doctype html><title>x</title>")
    post(*(image_event(f"ev-{m}", m) for m in ("big", "streamed", "broken", "html")))
    texts = [s.texts[0] for s in fake_line.sent]
    assert texts[0].startswith("I could not read this image: the file is too large")
    assert texts[1].startswith("I could not read this image: the file is too large")
    assert texts[2].startswith("I could not read this image")
    assert "HTML" in texts[3]
    assert set(BotQuestion.objects.values_list("status", flat=True)) == {"answered"}


def test_no_face_is_an_answer(post, fake_line, stub_recognizer):
    stub_recognizer["say"]([], [])
    fake_line.image("m1", image_bytes())
    post(image_event("ev-1", "m1"))
    assert fake_line.sent[0].texts == ["I found no face in this image."]


def test_a_redelivered_event_is_answered_once(post, fake_line, stub_recognizer):
    stub_recognizer["say"](*ONE_FACE)
    fake_line.image("m1", image_bytes())
    assert post(image_event("ev-1", "m1")).status_code == 200
    assert post(image_event("ev-1", "m1", redelivery=True)).status_code == 200
    assert post(image_event("ev-1", "m1"), image_event("ev-1", "m1")).status_code == 200
    assert len(fake_line.sent) == 1 and fake_line.content_hits("m1") == 1
    assert BotQuestion.objects.count() == 1
    # A task run again (a broker delivering twice) finds the question answered.
    assert "skipped" in tasks.line_answer(BotQuestion.objects.get().pk)
    assert len(fake_line.sent) == 1


def test_an_expired_reply_token_is_pushed_to_the_chat_once(post, fake_line, stub_recognizer):
    stub_recognizer["say"](*ONE_FACE)
    fake_line.image("m1", image_bytes())
    fake_line.expired.add("rt-ev-1")
    post(image_event("ev-1", "m1", redelivery=True))
    [sent] = fake_line.sent
    assert (sent.via, sent.body["to"], sent.texts) == ("push", "U0001", ["Aoi 90%, Beni 5%, Chiyo 5%"])
    push = next(r for r in fake_line.server.requests if r.path == "/v2/bot/message/push")
    assert push.headers["x-line-retry-key"]
    assert BotQuestion.objects.get().reply_via == "push"


def test_a_group_or_room_is_answered_in_it(post, fake_line, stub_recognizer):
    stub_recognizer["say"](*ONE_FACE)
    fake_line.image("m1", image_bytes())
    fake_line.image("m2", image_bytes(seed=2))
    post(image_event("ev-1", "m1", chat="group", chat_id="C77"))
    fake_line.expired.add("rt-ev-2")
    post(image_event("ev-2", "m2", chat="room", chat_id="R88"))
    first, second = fake_line.sent
    assert (first.via, first.body["replyToken"]) == ("reply", "rt-ev-1")
    assert (second.via, second.body["to"]) == ("push", "R88")
    assert list(BotQuestion.objects.order_by("external_id").values_list("chat", "reply_to")) == [
        ("group", {"reply_token": "rt-ev-1", "to": "C77", "message_id": "m1"}),
        ("room", {"reply_token": "rt-ev-2", "to": "R88", "message_id": "m2"}),
    ]


def test_text_gets_the_help_and_group_talk_is_left_alone(post, fake_line):
    help_text = "Send me a photo and I will tell you who is in it: each face from the left, with how sure I am."
    post(
        text_event("t-1", "who are you?"),
        event("f-1", type_="follow"),
        event("s-1", {"type": "sticker", "id": "s", "packageId": "1", "stickerId": "2"}),
        event("j-1", type_="join", chat="group", chat_id="C1"),
        text_event("t-2", "@bot help", mention_me=True, chat="group", chat_id="C1"),
        # not for the bot: talk in a group, a sticker there, leaving, unfollowing, standby
        text_event("t-3", "lunch?", chat="group", chat_id="C1"),
        event("s-2", {"type": "sticker", "id": "s2"}, chat="room", chat_id="R1"),
        event("u-1", type_="unfollow"),
        event("l-1", type_="leave", chat="group", chat_id="C1"),
        {**text_event("t-4"), "mode": "standby"},
        {"type": "message", "message": {"type": "text", "text": "no id"}, "source": {"type": "user", "userId": "U"}},
    )
    assert [s.texts for s in fake_line.sent] == [[help_text]] * 5
    assert sorted(BotQuestion.objects.values_list("external_id", flat=True)) == ["f-1", "j-1", "s-1", "t-1", "t-2"]
    assert set(BotQuestion.objects.values_list("kind", flat=True)) == {"text"}


def test_over_the_daily_limit_the_bot_says_so(post, fake_line, bot, stub_recognizer):
    stub_recognizer["say"](*ONE_FACE)
    bot.daily_limit = 1
    bot.save()
    fake_line.image("m1", image_bytes())
    fake_line.image("m2", image_bytes(seed=2))
    post(image_event("ev-1", "m1"))
    post(image_event("ev-2", "m2"))
    assert fake_line.sent[1].texts == ["I have answered as many photos as I can today. Please try again tomorrow."]
    assert fake_line.content_hits("m2") == 0
    limited = BotQuestion.objects.get(external_id="ev-2")
    assert (limited.status, limited.reply_via) == ("limited", "reply")
    assert bot.answered_today() == 1


def _run_retry(question: BotQuestion) -> None:
    schedule = Schedule.objects.get(func="bots.tasks.line_answer")
    assert ast.literal_eval(schedule.args) == question.pk and schedule.schedule_type == Schedule.ONCE
    schedule.delete()
    tasks.line_answer(question.pk)


def test_a_5xx_from_line_is_tried_again_later(post, fake_line, stub_recognizer, caplog):
    stub_recognizer["say"](*ONE_FACE)
    fake_line.image("m1", image_bytes())
    fake_line.outages = [Answer(500, b'{"message":"An error occurred in the server"}', {})]
    with caplog.at_level(logging.DEBUG):
        post(image_event("ev-1", "m1"))
    question = BotQuestion.objects.get()
    assert (question.status, question.attempts) == ("queued", 1)
    assert "500" in question.error and "server" in question.error
    assert fake_line.sent == []
    _run_retry(question)
    question.refresh_from_db()
    assert (question.status, question.attempts, question.error) == ("answered", 2, "")
    assert len(fake_line.sent) == 1
    assert "line-token" not in caplog.text and "s3cret-channel" not in caplog.text


def test_the_image_download_is_tried_again_and_then_given_up(post, fake_line, stub_recognizer, caplog):
    stub_recognizer["say"](*ONE_FACE)
    fake_line.image("m1", Answer(503, b"", {}))
    with caplog.at_level(logging.DEBUG):
        post(image_event("ev-1", "m1"))
        question = BotQuestion.objects.get()
        for _ in range(3):
            _run_retry(question)
    question.refresh_from_db()
    assert (question.status, question.attempts) == ("failed", 4)
    assert "503" in question.error and not Schedule.objects.filter(func="bots.tasks.line_answer").exists()
    assert fake_line.content_hits("m1") == 4 and fake_line.sent == []
    assert "line-token" not in caplog.text


def test_a_refused_token_fails_at_once_without_naming_it(post, fake_line, bot, stub_recognizer, caplog):
    stub_recognizer["say"](*ONE_FACE)
    fake_line.image("m1", Answer(401, b'{"message":"Authentication failed. Confirm that the access token."}', {}))
    fake_line.image("m2", image_bytes())
    fake_line.outages = [Answer(400, b'{"message":"The request body has 1 error(s)"}', {})]
    with caplog.at_level(logging.DEBUG):
        post(image_event("ev-1", "m1"), image_event("ev-2", "m2"))
    failed = {q.external_id: q for q in BotQuestion.objects.all()}
    assert {q.status for q in failed.values()} == {"failed"} and not Schedule.objects.filter(
        func="bots.tasks.line_answer"
    ).exists()
    assert "401" in failed["ev-1"].error and "400" in failed["ev-2"].error
    for text in (caplog.text, *(q.error for q in failed.values())):
        assert bot.token not in text and bot.secret not in text


@pytest.mark.slow
def test_photos_of_the_shared_people_get_their_names(post, fake_line, real_recognizer):
    """Real detection and embeddings: one face each, then two people in one photo, a stranger."""
    for n, person in enumerate(PEOPLE):
        fake_line.image(f"p{n}", photo_of(person))
        post(image_event(f"ev-{n}", f"p{n}"))
        assert fake_line.sent[-1].texts[0].startswith(real_recognizer[person].name), fake_line.sent[-1].texts

    pair = Image.new("RGB", (960, 480))
    for x, person in ((0, "Will_Smith"), (480, "Keira_Knightley")):
        pair.paste(Image.open(io.BytesIO(photo_of(person))), (x, 0))
    out = io.BytesIO()
    pair.save(out, format="JPEG", quality=92)
    fake_line.image("pair", out.getvalue())
    post(image_event("ev-pair", "pair"))
    lines = fake_line.sent[-1].texts[0].splitlines()
    assert lines[0] == "2 faces, from the left:"
    assert lines[1].startswith("1. Will Smith") and lines[2].startswith("2. Keira Knightley"), lines
    assert len(fake_line.sent[-1].images) == 1

    fake_line.image("stranger", photo_of("Simon_Cowell", index=0))
    post(image_event("ev-stranger", "stranger"))
    assert fake_line.sent[-1].texts == ["unknown (not sure enough)"]
    assert BotQuestion.objects.filter(status="answered").count() == 5
