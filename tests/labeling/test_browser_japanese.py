"""The product as a browser set to Japanese sees it (Playwright, ``locale="ja-JP"``): signing
in, the grid, the picker with romaji and old kanji forms, an input method's composition, the
admin in Japanese, and the header's switch to English and back.

The Japanese expected is read from the catalogs (``translation.override``), so the tests check
that each page is translated, not one wording of it.
"""

from __future__ import annotations

import pytest
from django.utils import translation

from faces.models import Face
from labeling.models import FaceLabel
from tests.factories import make_idol
from tests.labeling.test_browser import (  # noqa: F401 (fixtures)
    CHROMIUM,
    COMPOSING_KEY,
    browser,
    labels_of,
    shot,
    world,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}"),
]


def ja(text: str) -> str:
    with translation.override("ja"):
        translated = translation.gettext(text)
    assert translated != text, f"no Japanese for {text!r}"
    return translated


@pytest.fixture
def page_ja(browser):  # noqa: F811
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(8000)
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def html_lang(page) -> str:
    return page.evaluate("document.documentElement.lang")


def sign_in_ja(page, live_server) -> None:
    page.goto(f"{live_server.url}/label/login/?next=/label/")
    assert html_lang(page) == "ja"
    assert page.locator("form.login h1").inner_text() == ja("Sign in")
    page.fill("input[name=username]", "hana")
    page.fill("input[name=password]", "pw-hana-123")
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{live_server.url}/label/")


def test_a_japanese_browser_signs_in_labels_with_romaji_and_old_kanji_and_composes(page_ja, live_server, world):  # noqa: F811
    page = page_ja
    asuka = make_idol("齋藤飛鳥", reading="さいとう あすか")
    sign_in_ja(page, live_server)

    # The grid: Japanese from the server and from the script's catalog.
    assert html_lang(page) == "ja"
    assert page.locator("header nav a").nth(1).inner_text() == ja("Faces")
    assert page.evaluate("Object.keys(django.catalog).length") > 10
    page.goto(f"{live_server.url}/label/?status=unlabeled")
    cards = page.locator(".card")
    first = int(cards.nth(0).get_attribute("data-face"))

    # Romaji as people type it finds 佐藤 遥 (さとう はるか); Enter labels.
    page.keyboard.press("/")
    page.keyboard.type("satou haruka")
    page.locator("#ta-list li.active .name").filter(has_text="佐藤 遥").wait_for()
    shot(page, "typeahead-ja")
    page.keyboard.press("Enter")
    cards.nth(0).locator(".chip", has_text="佐藤 遥").wait_for()
    assert labels_of(Face.objects.get(pk=first)) == {"佐藤 遥"}

    # The new form of her kanji (斎藤) finds 齋藤飛鳥, through an input method's composition:
    # the Enter that ends the composition only ends it, the next one labels.
    second = int(page.locator(".card.focus").get_attribute("data-face"))
    page.keyboard.press("/")
    page.keyboard.type("斎藤")
    page.locator("#ta-list li.active .name").filter(has_text="齋藤飛鳥").wait_for()
    page.evaluate(COMPOSING_KEY, ["#ta-input", "Enter"])
    page.wait_for_timeout(300)
    assert not FaceLabel.objects.filter(face_id=second).exists()
    page.keyboard.press("Enter")
    page.locator(f'.card[data-face="{second}"] .chip', has_text="齋藤飛鳥").wait_for()
    assert FaceLabel.objects.get(face_id=second).idol_id == asuka.pk
    shot(page, "grid-ja")


def test_the_switch_to_english_and_back_holds_across_pages(page_ja, live_server, world):  # noqa: F811
    page = page_ja
    sign_in_ja(page, live_server)
    page.goto(f"{live_server.url}/label/idols/")
    assert html_lang(page) == "ja"
    page.click("header form.language button[value=en]")
    page.wait_for_url(f"{live_server.url}/label/idols/")
    assert html_lang(page) == "en"
    assert page.locator("header nav a").nth(1).inner_text() == "Faces"
    # The choice outlives the page: the browser still asks for Japanese.
    page.goto(f"{live_server.url}/label/?status=all")
    assert html_lang(page) == "en"
    assert page.evaluate("gettext('Faces')") == "Faces"
    page.click("header form.language button[value=ja]")
    page.wait_for_url(f"{live_server.url}/label/?status=all")
    assert html_lang(page) == "ja"
    assert page.locator("header nav a").nth(1).inner_text() == ja("Faces")


def test_the_admin_speaks_japanese(page_ja, live_server, django_user_model):
    django_user_model.objects.create_superuser("kanri", password="pw-kanri-123", email="")
    make_idol("齋藤飛鳥", reading="さいとう あすか")
    page = page_ja
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    assert html_lang(page) == "ja"
    page.fill("input[name=username]", "kanri")
    page.fill("input[name=password]", "pw-kanri-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    with translation.override("ja"):
        log_out = translation.gettext("Log out")  # Django's own catalog
    assert page.locator("#logout-form button").text_content().strip() == log_out
    assert page.locator("#content h1").inner_text() == ja("Photos, faces and labels")
    page.goto(f"{live_server.url}/admin/labeling/idol/")
    assert "齋藤飛鳥" in page.locator("#result_list").inner_text()
    shot(page, "admin-ja", top=True)
    # The switch is in the admin's header too.
    page.click("#user-tools form.language button[value=en]")
    page.wait_for_url(f"{live_server.url}/admin/labeling/idol/")
    assert page.locator("#logout-form button").text_content().strip() == "Log out"
