"""Suggestions on the face grid and the photo page in a real browser, in Japanese and in
English: each unlabeled face shows its top 3 idols with percents; ``y`` labels the focused face
with the first, ``n`` says "not her" and the next idol shows, ``u`` undoes either, ``y`` on a
selection accepts each face's own first idol, a click on a name accepts it; the database agrees."""

from __future__ import annotations

import pytest

from classifier.models import SuggestionRejection
from labeling.models import FaceLabel, How
from labeling.roles import assign_role
from labeling.services import idol_soft_delete
from tests.classifier.suggest_fixtures import make_suggestion, new_version
from tests.factories import make_face, make_idol, make_photo
from tests.labeling.test_browser import CHROMIUM, XSS, browser, shot, sign_in  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}"),
]


@pytest.fixture(params=["ja-JP", "en-US"])
def page(request, browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=request.param)
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(8000)
    page.locale = request.param
    yield page
    context.close()
    assert not dialogs, f"a dialog opened (script injection?): {dialogs}"
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def world(django_user_model):
    labeler = django_user_model.objects.create_user("hana", password="pw-hana-123")
    assign_role(labeler, "labeler")
    haruka, misaki, evil, yui = make_idol("佐藤 遥"), make_idol("鈴木 美咲"), make_idol(XSS), make_idol("Yui")
    version = new_version([haruka, misaki, evil, yui])
    photo = make_photo()
    faces = [make_face(photo, box=(10, 10, 50, 60)), make_face(photo, box=(120, 10, 50, 60))]
    faces += [make_face() for _ in range(4)]
    tops = [
        [(haruka, 0.62), (misaki, 0.21), (evil, 0.1), (yui, 0.04)],
        [(misaki, 0.55), (yui, 0.3), (haruka, 0.1)],
        [(haruka, 0.8), (yui, 0.15)],
        [(misaki, 0.7), (evil, 0.2)],
        [(yui, 0.5), (haruka, 0.3)],
    ]
    for face, top in zip(faces, tops, strict=False):
        make_suggestion(face, version, top)
    make_suggestion(faces[5], version, [(yui, 0.3), (misaki, 0.25)], unknown=True)
    idol_soft_delete(idol=yui, reason="graduated")  # still suggested, marked as graduated
    return {"idols": (haruka, misaki, evil, yui), "faces": faces, "photo": photo}


def card(page, face):
    return page.locator(f"#face-{face.pk}")


def guesses(page, face) -> list[str]:
    return [g.inner_text().replace("\n", " ") for g in card(page, face).locator(".suggest .guess").all()]


def first_name(page, face) -> str:
    return card(page, face).locator(".suggest .guess.first .name").inner_text()


def inside(box, outer) -> bool:
    return (
        box["width"] > 0
        and outer["x"] <= box["x"]
        and box["x"] + box["width"] <= outer["x"] + outer["width"]
        and outer["y"] <= box["y"]
        and box["y"] + box["height"] <= outer["y"] + outer["height"]
    )


def labels(face) -> set[tuple[str, str]]:
    return set(FaceLabel.objects.filter(face=face).values_list("idol__name", "how"))


def test_suggestions_on_the_grid_accept_reject_bulk_and_undo(page, live_server, world):
    sign_in(page, live_server, "hana", "pw-hana-123")
    page.goto(f"{live_server.url}/label/?status=unlabeled")
    page.wait_for_selector("#suggestions[data-loaded='1']", state="attached")
    a, b, c, d, e, unknown = world["faces"]
    # The top 3 with percents, names as text, the graduated idol marked.
    assert [" ".join(g.split()) for g in guesses(page, a)] == ["佐藤 遥 62%", "鈴木 美咲 21%", f"{XSS} 10%"]
    mark = card(page, e).locator(".guess.first .left")
    japanese = page.locale == "ja-JP"
    assert mark.inner_text() == ("卒業" if japanese else "graduated")
    assert inside(mark.bounding_box(), card(page, e).bounding_box())
    assert card(page, unknown).locator(".suggest").inner_text() == ("不明" if japanese else "unknown")
    assert card(page, unknown).locator(".guess").count() == 0
    shot(page, f"grid-suggestions-{page.locale}", top=True)

    # y: the focused face is labeled with its first idol, at once.
    card(page, a).locator("img").click()
    page.keyboard.press("y")
    card(page, a).locator(".chip", has_text="佐藤 遥").wait_for()
    assert card(page, a).locator(".suggest").count() == 0
    assert labels(a) == {("佐藤 遥", How.SUGGESTION)}

    # n: not her; the next idol shows first; u takes the rejection back.
    card(page, b).locator("img").click()
    page.keyboard.press("n")
    page.wait_for_function(f"document.querySelector('#face-{b.pk} .guess.first .name').textContent === 'Yui'")
    assert SuggestionRejection.objects.filter(face=b, idol=world["idols"][1]).exists()
    assert first_name(page, b) == "Yui" and not FaceLabel.objects.filter(face=b).exists()
    page.keyboard.press("u")
    page.wait_for_function(f"document.querySelector('#face-{b.pk} .guess.first .name').textContent === '鈴木 美咲'")
    assert not SuggestionRejection.objects.filter(face=b).exists()

    # y on a selection: each face gets its own first idol, in one undoable batch.
    card(page, c).locator("img").click(modifiers=["Control"])
    card(page, d).locator("img").click(modifiers=["Control"])
    assert page.locator(".card.selected").count() == 2
    page.keyboard.press("y")
    card(page, d).locator(".chip", has_text="鈴木 美咲").wait_for()
    card(page, c).locator(".chip", has_text="佐藤 遥").wait_for()
    assert labels(c) == {("佐藤 遥", How.SUGGESTION)} and labels(d) == {("鈴木 美咲", How.SUGGESTION)}
    page.keyboard.press("u")
    page.wait_for_function(f"document.querySelectorAll('#face-{c.pk} .guess, #face-{d.pk} .guess').length === 4")
    assert not FaceLabel.objects.filter(face__in=[c, d]).exists()

    # A click on a name accepts that one.
    card(page, d).locator(".guess", has_text=XSS).click()
    card(page, d).locator(".chip", has_text=XSS).wait_for()
    assert labels(d) == {(XSS, How.SUGGESTION)}

    # The idols accepted joined the keys 1-9, the latest first; the digits label with them,
    # not with a face's suggestions.
    page.wait_for_function("document.querySelector('#idol-keys-list li .name').textContent.startsWith('<script>')")
    names = page.locator("#idol-keys-list li .name").all_inner_texts()
    assert names == [XSS, "鈴木 美咲", "佐藤 遥"]  # the selection in the page's order
    card(page, e).locator("img").click()
    page.keyboard.press("1")
    card(page, e).locator(".chip", has_text=XSS).wait_for()
    assert labels(e) == {(XSS, How.MANUAL)}


def test_suggestions_on_the_photo_page(page, live_server, world):
    sign_in(page, live_server, "hana", "pw-hana-123")
    page.goto(f"{live_server.url}/label/photos/{world['photo'].pk}/")
    page.wait_for_selector("#suggestions[data-loaded='1']", state="attached")
    a, b = world["faces"][:2]
    assert guesses(page, b)[0].split() == ["鈴木", "美咲", "55%"]
    card(page, b).locator("img").click()
    page.keyboard.press("Shift+Digit2")  # the second: Yui, graduated and still herself
    card(page, b).locator(".chip", has_text="Yui").wait_for()
    assert page.locator(f"[data-box-face='{b.pk}'] .box-label").inner_text() == "Yui"
    assert labels(b) == {("Yui", How.SUGGESTION)}
    assert first_name(page, a) == "佐藤 遥"
