"""What a bot says about an image: names left to right, unknown under its threshold, the idols
it may not name, the numbered picture, and the answers to bad images."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bots.answers import answer_image, bot_threshold, calibrated_threshold
from bots.models import BotAccount, BotQuestion
from bots.services import question_answered, question_claim, question_record
from labeling.models import Idol
from labeling.services import idol_soft_delete
from tests.bots.conftest import PEOPLE, photo_of
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db


def _bins(rows):
    return {"calibration": {"bins": [{"lower": lo, "upper": lo + 0.1, "count": n, "accuracy": a} for lo, n, a in rows]}}


def test_calibrated_threshold_is_the_lowest_bin_that_keeps_the_precision():
    metrics = _bins([(0.3, 10, 0.3), (0.5, 10, 0.7), (0.7, 10, 0.95), (0.9, 10, 1.0)])
    # From the top: 1.0, then (9.5+10)/20 = 0.975, then (7+9.5+10)/30 = 0.883 < 0.9.
    assert calibrated_threshold(metrics, precision=0.9) == 0.7
    assert calibrated_threshold(metrics, precision=0.85) == 0.5
    assert calibrated_threshold({}, precision=0.9) is None
    assert calibrated_threshold(_bins([(0.9, 10, 0.5)]), precision=0.9) is None


def test_a_bot_without_a_threshold_takes_the_active_models_never_under_the_sites(stub_recognizer, settings):
    bot = BotAccount.objects.create(name="b", kind="line")
    version = stub_recognizer["version"]
    settings.IDOLSITE_UNKNOWN_THRESHOLD = 0.5
    version.metrics = _bins([(0.5, 10, 0.5), (0.8, 10, 1.0)])
    version.save()
    assert bot_threshold(bot) == 0.8
    version.metrics = _bins([(0.1, 10, 0.99), (0.8, 10, 1.0)])
    version.save()
    assert bot_threshold(bot) == 0.5
    bot.threshold = 0.3
    assert bot_threshold(bot) == 0.3


def test_faces_are_answered_left_to_right_with_their_names_and_a_numbered_picture(stub_recognizer):
    bot = BotAccount.objects.create(name="b", kind="line", threshold=0.6, top=2, language="en")
    # Detection order is right to left; the answer goes from the left.
    stub_recognizer["say"]([(300, 40, 80, 80), (20, 50, 80, 80)], [[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]])
    data = image_bytes(400, 200, seed=7)
    answer = answer_image(bot, data)
    assert [f.box[0] for f in answer.faces] == [20, 300]
    assert [f.names for f in answer.faces] == [[("Aoi", 0.7), ("Beni", 0.2)], [("Beni", 0.8), ("Aoi", 0.1)]]
    assert answer.text.splitlines() == ["2 faces, from the left:", "1. Aoi 70%, Beni 20%", "2. Beni 80%, Aoi 10%"]
    picture = Image.open(io.BytesIO(answer.image))
    assert picture.format == "JPEG" and picture.size == (400, 200)
    # The box of face 1 is drawn: its border differs from the plain image there.
    assert picture.getpixel((21, 90)) != Image.open(io.BytesIO(data)).getpixel((21, 90))


def test_under_the_threshold_a_face_is_unknown_and_nobody_is_named(stub_recognizer):
    bot = BotAccount.objects.create(name="b", kind="line", threshold=0.75, language="en")
    stub_recognizer["say"]([(20, 50, 80, 80)], [[0.7, 0.2, 0.1]])
    answer = answer_image(bot, image_bytes())
    assert answer.faces[0].unknown and answer.faces[0].names == []
    assert answer.text == "unknown (not sure enough)" and answer.image is None
    bot.language = "ja"
    assert "わかりません" in answer_image(bot, image_bytes()).text


def test_an_idol_the_bot_may_not_name_makes_the_face_unknown_not_the_next_ones(stub_recognizer):
    aoi, beni, _ = stub_recognizer["idols"]
    bot = BotAccount.objects.create(name="b", kind="line", threshold=0.5, language="en")
    stub_recognizer["say"]([(20, 50, 80, 80)], [[0.9, 0.05, 0.05]])
    bot.hidden_idols.add(aoi)
    assert answer_image(bot, image_bytes()).faces[0].unknown
    bot.hidden_idols.clear()
    idol_soft_delete(idol=aoi, reason=Idol.DeletionReason.GRADUATED)
    assert answer_image(bot, image_bytes()).faces[0].names[0][0] == "Aoi"
    bot.name_former = False
    assert answer_image(bot, image_bytes()).faces[0].unknown
    # A hidden idol among the lower guesses is left out of the list only.
    bot.name_former = True
    bot.hidden_idols.add(beni)
    assert [n for n, _ in answer_image(bot, image_bytes()).faces[0].names] == ["Aoi", "Chiyo"]


@pytest.mark.parametrize(
    ("data", "problem"),
    [(b"not an image at all", "invalid_image"), (image_bytes()[:200], "invalid_image")],
)
def test_a_broken_image_gets_an_answer_that_says_so(stub_recognizer, data, problem):
    bot = BotAccount.objects.create(name="b", kind="line", language="en")
    answer = answer_image(bot, data)
    assert answer.problem == problem and answer.text.startswith("I could not read this image")


def test_a_huge_image_is_refused_before_decoding(stub_recognizer, settings):
    settings.IDOLSITE_MAX_IMAGE_PIXELS = 100 * 100
    bot = BotAccount.objects.create(name="b", kind="line", language="en")
    answer = answer_image(bot, image_bytes(400, 300))
    assert answer.problem == "invalid_image" and "too large" in answer.text


def test_no_face_and_no_model_are_answers(stub_recognizer, monkeypatch):
    bot = BotAccount.objects.create(name="b", kind="line", language="en")
    stub_recognizer["say"]([], [])
    assert answer_image(bot, image_bytes()).problem == "no_face"
    monkeypatch.setattr("classifier.services.versions.load_classifier", lambda version=None: None)
    answer = answer_image(bot, image_bytes())
    assert answer.problem == "no_model" and "no model" in answer.text


def test_a_question_is_recorded_once_and_claimed_once(line_bot):
    first = question_record(bot=line_bot, external_id="ev-1")
    assert first is not None
    assert question_record(bot=line_bot, external_id="ev-1") is None
    assert question_claim(question_id=first.pk) is not None
    assert question_claim(question_id=first.pk) is None  # another worker has it
    question_answered(question=first, text="hi", via="reply")
    assert question_claim(question_id=first.pk) is None
    first.refresh_from_db()
    assert first.status == "answered" and first.latency_ms is not None


def test_over_the_daily_limit_a_question_is_marked_limited(line_bot):
    line_bot.daily_limit = 1
    line_bot.save()
    one = question_record(bot=line_bot, external_id="a")
    question_answered(question=question_claim(question_id=one.pk), text="x", via="reply")
    two = question_record(bot=line_bot, external_id="b")
    assert question_claim(question_id=two.pk).status == BotQuestion.Status.LIMITED


def test_a_real_photo_of_a_known_person_gets_her_name(real_recognizer):
    bot = BotAccount.objects.create(name="b", kind="line", language="en")
    for person in PEOPLE:
        answer = answer_image(bot, photo_of(person))
        assert len(answer.faces) == 1, answer
        assert not answer.faces[0].unknown and answer.faces[0].names[0][0] == real_recognizer[person].name, answer
    stranger = answer_image(bot, photo_of("Simon_Cowell", index=0))
    assert stranger.faces and stranger.faces[0].unknown, stranger
