"""The training page and the API's documentation in a real browser: the page follows a running
training without a reload, an admin starts one from it, and no page asks another host for
anything (Redoc's fonts came from Google), in English and Japanese."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from classifier.models import TrainingRun
from labeling.roles import assign_role
from tests.labeling.test_browser import CHROMIUM, browser  # noqa: F401  (the module's browser)

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}"),
]


@pytest.fixture(params=["en-US", "ja-JP"])
def page(browser, request):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale=request.param)
    page = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on(
        "request",
        lambda req: (
            outside.append(req.url)
            if urlsplit(req.url).hostname not in ("127.0.0.1", "localhost", None) and not req.url.startswith("data:")
            else None
        ),
    )
    page.set_default_timeout(10000)
    page.language = request.param
    yield page
    context.close()
    assert not outside, f"requests that left the site: {outside}"
    assert not errors, f"console errors: {errors}"


@pytest.fixture
def admin(django_user_model):
    user = django_user_model.objects.create_user("aki", password="pw-aki-12345")
    assign_role(user, "admin")
    return user


def sign_in(page, live_server, next_url: str) -> None:
    page.goto(f"{live_server.url}/label/login/?next={next_url}")
    page.fill("input[name=username]", "aki")
    page.fill("input[name=password]", "pw-aki-12345")
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{live_server.url}{next_url}")


def test_the_training_page_follows_a_run_and_starts_one(page, live_server, admin):
    run = TrainingRun.objects.create(
        status="running", recognizer="network", epoch=1, epochs=4, step=1, steps=10, eta_seconds=600
    )
    sign_in(page, live_server, "/classifier/runs/")
    japanese = page.language.startswith("ja")
    assert page.locator("header.top nav a[aria-current=page]").inner_text() == ("学習" if japanese else "Training")
    assert page.locator("#runs").inner_text().count("1/4") == 1
    page.evaluate("window.notReloaded = true")
    TrainingRun.objects.filter(pk=run.pk).update(epoch=3, step=5, eta_seconds=120)
    page.wait_for_function("document.querySelector('#runs').innerText.includes('3/4')", timeout=15000)
    assert page.evaluate("window.notReloaded") is True  # the table changed, the page stayed
    assert ("残り約 2 分" if japanese else "about 2 minutes left") in page.locator("#runs").inner_text()
    # Starting the same recognizer again answers the run in progress.
    page.check("input[name=recognizer][value=network]")
    page.click("form.train-start button[type=submit]")
    page.wait_for_url(f"{live_server.url}/classifier/runs/{run.pk}/")
    notice = page.locator("ul.messages li").inner_text()
    assert ("2 つ目は始めませんでした" if japanese else "no second one was started") in notice
    assert TrainingRun.objects.count() == 1
    # The run ends: its page reloads once to show the evaluation.
    TrainingRun.objects.filter(pk=run.pk).update(status="cancelled", note="stopped")
    page.wait_for_function("!document.querySelector('[data-refresh]')", timeout=15000)


def test_the_api_docs_load_nothing_from_outside(page, live_server):
    for path, ready in (("/api/redoc/", "[role=search], .api-content"), ("/api/docs/", ".swagger-ui .info")):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
    response = page.goto(f"{live_server.url}/favicon.ico")
    assert response.ok and response.url.endswith("/static/labeling/favicon.svg")
