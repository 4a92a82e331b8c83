"""The photo feed in a real browser (Playwright, Debian's chromium): a labeler uploads three
photos through the file input and watches each card go from waiting to done without a reload;
a duplicate is answered with a link to the stored photo, a bad file with its reason; a failed
detection (of a photo dragged onto the page) shows its reason and is retried from the page. Once
more in Japanese.

Detection is held back while the page shows "waiting": the upload view queues it as in
production (``enqueue_detection`` on commit), but the queue here only records the photo, and
the test runs each detection itself (``faces.tasks.detect_photo``) once it has seen the card
wait; the page must then notice on its own (feed.js polls the states)."""

# ruff: noqa: F811  (fixtures imported from other test modules are parameters here)
from __future__ import annotations

import base64
import threading
from urllib.parse import urlsplit

import pytest
from django.utils import translation

from faces.models import Photo
from faces.tasks import detect_photo
from labeling.roles import assign_role
from tests.conftest import SHARED_PHOTOS
from tests.faces.conftest import face, scripted  # noqa: F401 (a fixture)
from tests.labeling.test_browser import CHROMIUM, browser, shot  # noqa: F401 (fixtures)
from tests.labeling.test_browser_japanese import ja

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}"),
    pytest.mark.skipif(not SHARED_PHOTOS.is_dir(), reason=f"needs the shared photos at {SHARED_PHOTOS} (absent here)"),
]

FEED = "/label/photos/"


@pytest.fixture
def held_detection(settings, monkeypatch, scripted):
    """Uploads queue detection as in production; the queue records the photo ids only."""
    import faces.services.detection as detection_service
    import faces.services.photos as photos_service

    queued: list[int] = []
    settings.IDOLSITE_AUTO_DETECT = True
    for module in (photos_service, detection_service):  # an upload, a retry
        monkeypatch.setattr(module, "enqueue_detection", lambda *, photo_id, **kw: queued.append(photo_id))
    scripted.faces = [face(20, 30, 60, 70), face(120, 40, 50, 60)]
    return queued


@pytest.fixture
def labeler(django_user_model):
    user = django_user_model.objects.create_user("hana", password="pw-hana-123")
    assign_role(user, "labeler")
    return user


def open_page(browser, live_server, *, locale: str = "en-US"):
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(8000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    host = urlsplit(live_server.url).hostname
    page.on(
        "request",
        lambda request: (
            None
            if urlsplit(request.url).hostname == host or request.url.startswith("data:")
            else problems.append(f"request outside: {request.url}")
        ),
    )
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    page.goto(f"{live_server.url}/label/login/?next={FEED}")
    page.fill("input[name=username]", "hana")
    page.fill("input[name=password]", "pw-hana-123")
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{live_server.url}{FEED}")
    return context, page, problems, navigations


@pytest.fixture
def db_lock(monkeypatch):
    """The live server's threads and this one share one connection to the in-memory test
    database, which refuses a write while another thread reads ("table is locked"): requests
    (two uploads at once, a poll) and the test's own queries take turns."""
    from django.core.handlers.wsgi import WSGIHandler

    lock = threading.RLock()
    call = WSGIHandler.__call__

    def one_at_a_time(self, environ, start_response):
        with lock:
            return call(self, environ, start_response)

    monkeypatch.setattr(WSGIHandler, "__call__", one_at_a_time)
    return lock


def detect(lock, photo_id: int) -> None:
    with lock:
        detect_photo(photo_id)


def drop(page, path) -> None:
    """Drag a file from outside the browser onto the page: a drop event carrying it."""
    page.evaluate(
        """([name, b64]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], name, { type: "image/jpeg" }));
          const target = document.querySelector("main");
          for (const type of ["dragenter", "dragover", "drop"]) {
            target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
          }
        }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )


def card(page, photo_id: int, state: str):
    return page.locator(f'[data-photo-card="{photo_id}"][data-state="{state}"]')


def home_figures(page, live_server) -> dict[str, str]:
    """The home page's counts and queue, read in a tab of their own (the feed stays open)."""
    home = page.context.new_page()
    try:
        home.goto(f"{live_server.url}/")
        return {
            name: home.locator(f'[data-figure="{name}"]').inner_text().strip()
            for name in ("photos", "faces", "unlabeled", "waiting")
        }
    finally:
        home.close()


def test_three_uploads_go_from_waiting_to_done_without_a_reload(
    browser, live_server, labeler, held_detection, db_lock, tmp_path
):
    files = sorted(p for p in SHARED_PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:3]
    assert len(files) == 3
    context, page, problems, navigations = open_page(browser, live_server)
    try:
        assert page.locator("header nav a[aria-current=page]").inner_text() == "Photos"
        nothing = {"photos": "0", "faces": "0", "unlabeled": "0", "waiting": "0 photos waiting"}
        assert home_figures(page, live_server) == nothing
        loads = len(navigations)
        page.set_input_files("#upload-input", [str(p) for p in files])
        page.locator("#uploads li.ok").nth(2).wait_for()
        with db_lock:
            ids = sorted(Photo.objects.values_list("pk", flat=True))
        assert len(ids) == 3 and sorted(held_detection) == ids  # each upload queued its detection
        for pk in ids:
            card(page, pk, "waiting").wait_for()
            assert page.locator(f'[data-photo-card="{pk}"] .box').count() == 0
        # Newest on top.
        shown = page.locator("[data-photo-card]").evaluate_all("cards => cards.map(c => Number(c.dataset.photoCard))")
        assert shown == sorted(ids, reverse=True)
        assert page.locator("#uploads li .name").all_inner_texts() == [p.name for p in files]
        shot(page, "feed-waiting", top=True)
        waiting = {"photos": "3", "faces": "0", "unlabeled": "0", "waiting": "3 photos waiting"}
        assert home_figures(page, live_server) == waiting

        for pk in ids:  # one at a time: each card turns on its own
            detect(db_lock, pk)
            card(page, pk, "done").wait_for(timeout=10_000)
            assert page.locator(f'[data-photo-card="{pk}"] .box').count() == 2
            assert page.locator(f'[data-photo-card="{pk}"] .pstate').inner_text() == "2 faces"
        assert len(navigations) == loads, f"the page was reloaded: {navigations}"
        shot(page, "feed-done", top=True)
        done = {"photos": "3", "faces": "6", "unlabeled": "6", "waiting": "0 photos waiting"}
        assert home_figures(page, live_server) == done

        # The same photo again: refused with a link to the one stored.
        page.set_input_files("#upload-input", str(files[0]))
        bad = page.locator("#uploads li.bad").first
        bad.wait_for()
        with db_lock:
            first = Photo.objects.get(original_name=files[0].name)
        assert f"photo {first.pk}" in bad.inner_text()
        assert bad.locator("a").get_attribute("href") == f"/label/photos/{first.pk}/"

        # A file that is no image: its reason.
        junk = tmp_path / "notes.jpg"
        junk.write_bytes(b"these are notes, not a photo")
        page.set_input_files("#upload-input", str(junk))
        page.locator("#uploads li.bad").nth(1).wait_for()
        assert "image" in page.locator("#uploads li.bad .msg").nth(1).inner_text().lower()
        with db_lock:
            assert Photo.objects.count() == 3
        assert len(navigations) == loads
    finally:
        context.close()
    # The browser logs each refused upload; nothing else may be logged.
    refused = "console: Failed to load resource: the server responded with a status of "
    assert problems == [refused + "409 (Conflict)", refused + "400 (Bad Request)"]


def test_a_failed_detection_shows_its_reason_and_is_retried(
    browser, live_server, labeler, held_detection, db_lock, scripted
):
    scripted.error = RuntimeError("the lens cap was on")
    context, page, problems, navigations = open_page(browser, live_server)
    try:
        loads = len(navigations)
        drop(page, sorted(SHARED_PHOTOS.glob("*.jpg"))[0])  # dragged onto the page, not picked
        page.locator("#uploads li.ok").wait_for()
        [pk] = held_detection
        card(page, pk, "waiting").wait_for()
        detect(db_lock, pk)
        failed = card(page, pk, "failed")
        failed.wait_for(timeout=10_000)
        assert "the lens cap was on" in failed.locator(".perror").inner_text()
        scripted.error = None
        failed.locator("button[data-retry]").click()
        card(page, pk, "waiting").wait_for()
        assert held_detection == [pk, pk]  # queued again
        detect(db_lock, pk)
        card(page, pk, "done").wait_for(timeout=10_000)
        assert len(navigations) == loads
    finally:
        context.close()
    assert not problems, problems


def test_in_japanese(browser, live_server, labeler, held_detection, db_lock):
    context, page, problems, _ = open_page(browser, live_server, locale="ja-JP")
    try:
        assert page.evaluate("document.documentElement.lang") == "ja"
        assert page.locator("header nav a[aria-current=page]").inner_text() == ja("Photos")
        assert ja("choose files") in page.locator("#dropzone").inner_text()
        page.set_input_files("#upload-input", str(sorted(SHARED_PHOTOS.glob("*.jpg"))[0]))
        page.locator("#uploads li.ok").wait_for()
        [pk] = held_detection
        assert card(page, pk, "waiting").locator(".pstate").inner_text() == ja("waiting for detection")
        detect(db_lock, pk)
        card(page, pk, "done").wait_for(timeout=10_000)
        with translation.override("ja"):
            two = translation.ngettext("%(n)s face", "%(n)s faces", 2) % {"n": 2}
        assert card(page, pk, "done").locator(".pstate").inner_text() == two
        page.set_input_files("#upload-input", str(sorted(SHARED_PHOTOS.glob("*.jpg"))[0]))
        bad = page.locator("#uploads li.bad")
        bad.wait_for()
        link = page.evaluate("gettext('open the stored photo')")  # the scripts' catalog
        assert link != "open the stored photo" and link in bad.inner_text()
        assert not bad.locator(".msg").inner_text().isascii()  # the server's reason in Japanese
        shot(page, "feed-ja", top=True)
    finally:
        context.close()
    assert [p for p in problems if "409 (Conflict)" not in p] == []  # the duplicate refused
