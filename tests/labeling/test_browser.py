"""The labeling pages in a real browser: Debian's chromium driven by Playwright's sync API.

A labeler signs in, filters unlabeled faces, labels one with the keyboard only, bulk-labels
five, undoes, and the database agrees. Screenshots of the grid, photo and idol pages go to
test-artifacts/.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from faces import services as face_services
from faces.models import Face
from labeling import services
from labeling.management.commands.seed_demo_data import _face_image, _jpeg
from labeling.models import FaceLabel, Idol
from labeling.roles import assign_role
from tests.factories import make_group, make_idol, make_photo

# live_server runs the app in a thread while Playwright's sync API holds an event loop here.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"
XSS = "<script>alert(1)</script>"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.dialogs, page.errors = dialogs, errors
    page.set_default_timeout(8000)
    yield page
    context.close()
    assert not dialogs, f"a dialog opened (script injection?): {dialogs}"
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def world(django_user_model):
    labeler = django_user_model.objects.create_user("hana", password="pw-hana-123")
    assign_role(labeler, "labeler")
    group = make_group("桜学院")
    haruka = make_idol("佐藤 遥", reading="さとう はるか", group=group, handles={"x": "haruka_s"})
    make_idol("鈴木 美咲", reading="すずき みさき", group=group)
    evil = make_idol(XSS, reading="えびる")
    # A photo with four cartoon faces, and crops that look like faces in the screenshots.
    scene = Image.new("RGB", (640, 420), (214, 226, 240))
    boxes = [(40 + 150 * i, 60 + 40 * (i % 2), 110, 120) for i in range(4)]
    for i, (x, y, w, h) in enumerate(boxes):
        scene.paste(_face_image(i, 110).resize((w, h)), (x, y))
    buffer = io.BytesIO()
    scene.save(buffer, format="JPEG", quality=90)
    photo = make_photo(data=buffer.getvalue())
    faces = [cartoon_face(photo, box, i, 0.7 + i / 20) for i, box in enumerate(boxes)]
    faces += [cartoon_face(make_photo(), (10, 10, 100, 100), 10 + i, 0.6 + i / 100) for i in range(10)]
    labeled = cartoon_face(make_photo(), (10, 10, 100, 100), 30, 0.95)
    services.face_label(face=labeled, idol=evil)
    services.face_label(face=faces[3], idol=haruka)
    return {"labeler": labeler, "haruka": haruka, "evil": evil, "photo": photo, "faces": faces}


def cartoon_face(photo, box, seed: int, score: float) -> Face:
    with face_services.atomic_with_files() as files:
        return face_services.face_create(
            photo=photo, box=box, crop_jpeg=_jpeg(_face_image(seed)), detector="test", score=score, tracker=files
        )


def sign_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/label/login/?next=/label/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login button[type=submit]")  # not the header's language switch
    page.wait_for_url(f"{live_server.url}/label/")


def shot(page, name: str, *, top: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    if top:
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def labels_of(face: Face) -> set[str]:
    return set(FaceLabel.objects.filter(face=face).values_list("idol__name", flat=True))


def test_labeler_labels_with_the_keyboard_bulk_labels_and_undoes(page, live_server, world):
    sign_in(page, live_server, "hana", "pw-hana-123")
    # Filter: unlabeled faces.
    page.check("input[name=status][value=all]")
    page.wait_for_url("**status=all**")
    assert page.locator(".card").count() == 15
    page.check("input[name=status][value=unlabeled]")
    page.wait_for_url("**status=unlabeled**")
    cards = page.locator(".card")
    assert cards.count() == 13  # 14 faces, one labeled

    # Keyboard only: move right once, open the typeahead, type a half-width reading, Enter.
    page.keyboard.press("l")
    second = cards.nth(1)
    assert "focus" in second.get_attribute("class")
    target = int(second.get_attribute("data-face"))
    page.keyboard.press("/")
    page.keyboard.type("ﾊﾙｶ")
    page.locator("#ta-list li.active .name").filter(has_text="佐藤 遥").wait_for()
    shot(page, "typeahead")
    page.keyboard.press("Enter")
    second.locator(".chip", has_text="佐藤 遥").wait_for()
    assert labels_of(Face.objects.get(pk=target)) == {"佐藤 遥"}
    # The focus went on to the next face still to label.
    assert "focus" in cards.nth(2).get_attribute("class")

    # Bulk: five faces with space and arrows, then one label for all of them.
    for _ in range(5):
        page.keyboard.press("Space")
        page.keyboard.press("ArrowRight")
    assert page.locator(".card.selected").count() == 5
    bulk = [int(c.get_attribute("data-face")) for c in page.locator(".card.selected").all()]
    page.keyboard.press("Enter")
    page.keyboard.type("みさき")
    page.locator("#ta-list li.active .name").filter(has_text="鈴木 美咲").wait_for()
    page.keyboard.press("Enter")
    page.locator(".card.selected").first.wait_for(state="detached")
    page.wait_for_function("document.querySelectorAll('.card .chip').length === 6")
    assert FaceLabel.objects.filter(face_id__in=bulk, idol__name="鈴木 美咲").count() == 5
    shot(page, "grid")

    # Undo the bulk label: the five chips go, the first label stays.
    page.keyboard.press("u")
    page.wait_for_function("document.querySelectorAll('.card .chip').length === 1")
    assert not FaceLabel.objects.filter(face_id__in=bulk).exists()
    assert labels_of(Face.objects.get(pk=target)) == {"佐藤 遥"}

    # Shift-click selects a range; x excludes them all.
    cards.nth(5).click()
    cards.nth(7).click(modifiers=["Shift"])
    assert page.locator(".card.selected").count() == 3
    page.keyboard.press("x")
    page.wait_for_function("document.querySelectorAll('.card.excluded').length === 3")
    assert Face.objects.filter(excluded=True).count() == 3


def test_photo_and_idol_pages_and_escaped_names(page, live_server, world):
    sign_in(page, live_server, "hana", "pw-hana-123")
    # A name with a script tag shows as text in the grid, in the chips the JS renders and in
    # the typeahead.
    page.goto(f"{live_server.url}/label/?status=labeled")
    assert page.locator(".chip a", has_text=XSS).count() == 1
    page.keyboard.press("/")
    page.keyboard.type("えびる")
    page.locator("#ta-list li .name", has_text=XSS).wait_for()
    page.keyboard.press("Escape")

    # The photo page: boxes drawn and labeled; a box drawn by hand becomes a face.
    photo = world["photo"]
    page.goto(f"{live_server.url}/label/photos/{photo.pk}/")
    assert page.locator(".box").count() == 4
    assert page.locator(".box.labeled .box-label").inner_text() == "佐藤 遥"
    box = page.locator("#stage img").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.80, box["y"] + box["height"] * 0.66)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.92, box["y"] + box["height"] * 0.92, steps=4)
    page.mouse.up()
    assert int(page.input_value("#box-form input[name=w]")) > 20
    page.click("#box-form button[type=submit]")
    page.locator(".box").nth(4).wait_for()
    manual = Face.objects.get(photo=photo, detector="manual")
    assert manual.score == 1.0 and manual.x + manual.w <= photo.width
    shot(page, "photo", top=True)

    # The idol page: her faces, counts and groups.
    page.goto(f"{live_server.url}/label/idols/{world['haruka'].pk}/")
    assert page.locator(".card").count() == 1
    assert "桜学院" in page.locator("table.groups").inner_text()
    shot(page, "idol")


def test_a_refused_action_shows_the_servers_message(page, live_server, world):
    sign_in(page, live_server, "hana", "pw-hana-123")
    page.goto(f"{live_server.url}/label/?status=unlabeled")
    focused = int(page.locator(".card.focus").get_attribute("data-face"))
    # Meanwhile someone else excludes the focused face: excluding it here is refused (409).
    services.face_exclude(face=Face.objects.get(pk=focused), reason="not_face")
    page.keyboard.press("x")
    status = page.locator("#status.error")
    status.wait_for()
    # The message for people (the error shape's "detail"), not the code ("already_excluded").
    assert "excluded already" in status.inner_text()


COMPOSING_KEY = """([target, key]) => {
    const el = target ? document.querySelector(target) : document.activeElement || document.body;
    el.dispatchEvent(new CompositionEvent("compositionstart", {bubbles: true, data: ""}));
    el.dispatchEvent(new CompositionEvent("compositionupdate", {bubbles: true, data: "はるか"}));
    // The key that commits (or is part of) the composition: the input method's, not the page's.
    const down = new KeyboardEvent("keydown", {key: key, keyCode: 229, isComposing: true, bubbles: true, cancelable: true});
    el.dispatchEvent(down);
    el.dispatchEvent(new CompositionEvent("compositionend", {bubbles: true, data: "はるか"}));
    return down.defaultPrevented;
}"""


def test_keys_an_input_method_is_composing_with_belong_to_it(page, live_server, world):
    sign_in(page, live_server, "hana", "pw-hana-123")
    page.goto(f"{live_server.url}/label/?status=unlabeled")
    cards = page.locator(".card")
    first = int(cards.nth(0).get_attribute("data-face"))
    # On the grid: "x" (exclude) and "Enter" (open the picker) while composing do nothing.
    assert page.evaluate(COMPOSING_KEY, [None, "x"]) is False
    assert page.evaluate(COMPOSING_KEY, [None, "Enter"]) is False
    page.wait_for_timeout(300)
    assert not Face.objects.filter(pk=first, excluded=True).exists()
    assert not page.locator("#ta-list li").count() or not page.locator("#ta-list").is_visible()
    # In the picker: the Enter that ends a composition only ends it; the next one labels.
    page.keyboard.press("/")
    page.keyboard.type("はるか")
    page.locator("#ta-list li.active .name").filter(has_text="佐藤 遥").wait_for()
    page.evaluate(COMPOSING_KEY, ["#ta-input", "Enter"])
    page.wait_for_timeout(400)
    assert labels_of(Face.objects.get(pk=first)) == set()
    assert page.locator("#ta-list li.active .name").filter(has_text="佐藤 遥").is_visible()
    page.keyboard.press("Enter")
    cards.nth(0).locator(".chip", has_text="佐藤 遥").wait_for()
    assert labels_of(Face.objects.get(pk=first)) == {"佐藤 遥"}


def test_the_picker_shows_namesakes_and_creates_another_only_when_asked(page, live_server, world):
    asuka = make_idol("齋藤飛鳥", reading="さいとう あすか", group=make_group("乃木坂46"))
    services.face_label(face=cartoon_face(make_photo(), (10, 10, 100, 100), 40, 0.9), idol=asuka)
    services.idol_soft_delete(idol=asuka)
    sign_in(page, live_server, "hana", "pw-hana-123")
    page.goto(f"{live_server.url}/label/?status=unlabeled")
    page.keyboard.press("/")
    page.keyboard.type("斎藤飛鳥")
    # Her, graduated, with her face, instead of "Create": only an explicit "another person".
    first = page.locator("#ta-list li").nth(0)
    first.locator(".st", has_text="graduated").wait_for()
    assert first.locator(".name").inner_text() == "齋藤飛鳥"
    assert first.locator("img.face").get_attribute("src").endswith(".jpg")
    assert page.locator("#ta-list li.create").count() == 1
    assert page.locator("#ta-list li.create.same-name").count() == 1
    page.keyboard.press("Escape")

    # Someone else of the same name, created on purpose (the page asks first).
    page.evaluate("window.confirm = (message) => { window.asked = message; return true; }")
    page.keyboard.press("/")
    page.keyboard.type("斎藤飛鳥")
    page.locator("#ta-list li.same-name").click()
    page.locator("#status", has_text="Created").wait_for()
    page.locator(".card .chip", has_text="斎藤飛鳥").wait_for()  # the face is labeled with her
    assert "斎藤飛鳥" in page.evaluate("window.asked")
    twin = Idol.objects.get(name="斎藤飛鳥")
    assert twin.same_name_ok
    services.idol_update(idol=twin, reading="さいとう とびとり")
    services.membership_add(idol=twin, group=make_group("欅坂46"))

    # Both, told apart by reading and group.
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    page.keyboard.type("齋藤飛鳥")
    page.locator("#ta-deleted").check()
    rows = page.locator("#ta-list li:not(.create)")
    rows.nth(1).wait_for()
    text = rows.all_inner_texts()
    assert any("さいとう あすか" in t and "乃木坂46" in t for t in text)
    assert any("さいとう とびとり" in t and "欅坂46" in t for t in text)
    shot(page, "picker-namesakes")
    page.keyboard.press("Escape")
    assert "error" not in (page.locator("#status").get_attribute("class") or "")
