"""The home page in a real browser: signed out it asks for sign-in and comes back; its counts
follow a label; its next action leads to the grid; in Japanese too; no request leaves the
machine and no script fails."""

from __future__ import annotations

import re

import pytest

from faces.models import Photo
from labeling import services
from labeling.models import Idol
from tests.factories import make_idol, make_photo
from tests.labeling.test_browser import CHROMIUM, browser, cartoon_face, shot  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}"),
]


def open_page(browser, locale: str):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale=locale)
    page = context.new_page()
    page.errors, page.outside = [], []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on(
        "request",
        lambda request: (
            None
            if re.match(r"^(https?://(127\.0\.0\.1|localhost)(:\d+)?/|data:|blob:)", request.url)
            else page.outside.append(request.url)
        ),
    )
    page.set_default_timeout(8000)
    return context, page


@pytest.fixture
def world(django_user_model):
    labeler = django_user_model.objects.create_user("hana", password="pw-hana-123")
    from labeling.roles import assign_role

    assign_role(labeler, "labeler")
    aoi = make_idol("佐藤 遥", reading="さとう はるか")
    faces = [cartoon_face(make_photo(), (10, 10, 100, 100), i, 0.9) for i in range(3)]
    Photo.objects.update(status=Photo.Status.DETECTED)  # nothing under way: the page stays still
    return {"labeler": labeler, "aoi": aoi, "faces": faces}


def figure(page, name: str) -> str:
    return page.locator(f'[data-figure="{name}"]').inner_text().strip()


@pytest.mark.parametrize("locale", ["en-US", "ja-JP"])
def test_the_home_page_counts_and_leads_to_the_faces(browser, live_server, world, locale):  # noqa: F811
    context, page = open_page(browser, locale)
    try:
        page.goto(f"{live_server.url}/")
        page.wait_for_url(re.compile(r"/label/login/\?next=/$"))
        page.fill("input[name=username]", "hana")
        page.fill("input[name=password]", "pw-hana-123")
        page.click("form.login button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        assert figure(page, "faces") == "3" and figure(page, "unlabeled") == "3"
        assert figure(page, "today-mine") == "0"
        heading = "実行中と待機中" if locale == "ja-JP" else "Running and waiting"
        assert page.get_by_role("heading", name=heading).is_visible()
        services.face_label(face=world["faces"][0], idol=Idol.objects.get(), user=world["labeler"])
        page.reload()
        assert figure(page, "unlabeled") == "2" and figure(page, "today-mine") == "1"
        shot(page, f"home-{locale}")
        page.click("a.primary[data-action]")  # "Label 2 faces"
        page.wait_for_url(f"{live_server.url}/label/?status=unlabeled")
        page.click("header a.brand")
        page.wait_for_url(f"{live_server.url}/")
        assert not page.errors, page.errors
        assert not page.outside, page.outside
    finally:
        context.close()
