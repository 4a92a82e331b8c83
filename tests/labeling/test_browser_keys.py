"""The keys 1-9 in a real browser, in English and in Japanese: a labeler who labeled a few
faces with three idols finds them on keys 1-3 in the grid's legend, labels 20 faces with the
digit keys only (one face at a time and whole selections), and watches the legend reorder
itself, the count of unlabeled faces fall and the page's progress rise; the database agrees;
the legend is the same after a reload; a graduated idol leaves it. No JavaScript or console
error, and no request leaves the machine."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.utils import translation

from labeling import services
from labeling.models import FaceLabel, How
from labeling.roles import assign_role
from tests.factories import make_face, make_idol
from tests.labeling.test_browser import CHROMIUM, browser, shot, sign_in  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM}"),
]

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(params=["en-US", "ja-JP"])
def page(request, browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=request.param)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    outside: list[str] = []

    def check_host(req):
        parts = urlsplit(req.url)
        if parts.scheme not in ("data", "blob") and parts.hostname not in LOCAL_HOSTS:
            outside.append(req.url)

    page.on("request", check_host)
    page.set_default_timeout(8000)
    page.language = "ja" if request.param == "ja-JP" else "en"
    yield page
    context.close()
    assert not problems, problems
    assert not outside, f"requests left the machine: {outside}"


def say(page, text: str, *args) -> str:
    """``text`` as the page's language writes it (from the catalogs: the Japanese is checked,
    not one wording of it)."""
    with translation.override(page.language):
        translated = translation.gettext(text)
    if page.language == "ja":
        assert translated != text, f"no Japanese for {text!r}"
    return translated % args if args else translated


def plural(page, singular: str, plural_: str, n: int) -> str:
    with translation.override(page.language):
        translated = translation.ngettext(singular, plural_, n)
    return translated


@pytest.fixture
def world(django_user_model):
    labeler = django_user_model.objects.create_user("hana", password="pw-hana-123")
    assign_role(labeler, "labeler")
    idols = [make_idol(name) for name in ("佐藤 遥", "鈴木 美咲", "高橋 陽菜", "田中 結衣")]
    faces = [make_face(score=0.5 + i / 100) for i in range(30)]
    # Her first labels, the long way: the oldest three faces, one idol each; 田中 結衣 unused.
    for face, idol in zip(faces[:3], idols[:3], strict=True):
        services.face_label(face=face, idol=idol, user=labeler)
    return {"labeler": labeler, "idols": idols, "faces": faces}


def legend(page) -> list[str]:
    return [li.inner_text().split("\n")[-1].strip() for li in page.locator("#idol-keys-list li").all()]


def legend_keys(page) -> list[str]:
    return page.locator("#idol-keys-list li kbd").all_inner_texts()


def left(page) -> int:
    return int(page.locator("#unlabeled-left").get_attribute("data-count"))


def home_figures(page, live_server) -> dict[str, int]:
    """The home page's counts, read in a tab of their own (the grid stays as it is)."""
    home = page.context.new_page()
    try:
        home.goto(f"{live_server.url}/")
        return {
            name: int(home.locator(f'dd[data-figure="{name}"]').inner_text().replace(",", ""))
            for name in ("faces", "unlabeled", "today-mine", "today")
        }
    finally:
        home.close()


def focused(page) -> int:
    return int(page.locator(".card.focus").get_attribute("data-face"))


def test_twenty_faces_labeled_with_the_digit_keys_only(page, live_server, world):
    labeler, (haruka, misaki, hina, yui) = world["labeler"], world["idols"]
    sign_in(page, live_server, "hana", "pw-hana-123")
    assert home_figures(page, live_server) == {"faces": 30, "unlabeled": 27, "today-mine": 3, "today": 3}
    page.goto(f"{live_server.url}/label/?status=unlabeled")
    cards = page.locator(".card")
    assert cards.count() == 27

    # The legend: her idols, the latest first, each on its key; 田中 結衣 was never used.
    assert legend(page) == ["高橋 陽菜", "鈴木 美咲", "佐藤 遥"]
    assert legend_keys(page) == ["1", "2", "3"]
    assert page.locator("#idol-keys .title").inner_text() == say(page, "Your idols")
    # The counts: 27 faces to label, none on this page yet.
    assert left(page) == 27
    assert page.locator("#unlabeled-left").inner_text().strip() == plural(
        page, "%(shown)s unlabeled face left", "%(shown)s unlabeled faces left", 27
    ) % {"shown": 27}
    assert page.locator("#page-progress").inner_text() == plural(
        page, "%(done)s of %(total)s on this page labeled", "%(done)s of %(total)s on this page labeled", 27
    ) % {"done": 0, "total": 27}
    shot(page, f"keys-legend-{page.language}", top=True)

    expected: dict[int, str] = {}
    done = 0

    def wait_done(n: int) -> None:
        page.wait_for_function(f"document.querySelectorAll('.card.labeled').length === {n}")
        page.wait_for_function(f"document.getElementById('unlabeled-left').dataset.count === '{27 - n}'")

    # 1: the focused face (the first), with 高橋 陽菜; the focus goes on to the next face.
    first = focused(page)
    page.keyboard.press("1")
    expected[first] = "高橋 陽菜"
    done += 1
    wait_done(done)
    assert focused(page) != first
    assert legend(page) == ["高橋 陽菜", "鈴木 美咲", "佐藤 遥"]
    assert page.locator("#page-progress").inner_text() == plural(
        page, "%(done)s of %(total)s on this page labeled", "%(done)s of %(total)s on this page labeled", 27
    ) % {"done": 1, "total": 27}

    # 3: 佐藤 遥, who moves to the front of the legend; the others move down a key.
    target = focused(page)
    page.keyboard.press("3")
    expected[target] = "佐藤 遥"
    done += 1
    wait_done(done)
    assert legend(page) == ["佐藤 遥", "高橋 陽菜", "鈴木 美咲"]

    # A key with no idol yet says so and labels nothing.
    page.keyboard.press("9")
    page.locator("#status.show.error").wait_for()
    page.wait_for_timeout(200)
    assert page.locator(".card.labeled").count() == done

    # Selections: five faces at once with Space and the arrows, then one digit.
    keys = ["2", "1", "3", "2"]
    sizes = [5, 4, 5, 4]  # with the two above: 20 faces
    for key, size in zip(keys, sizes, strict=True):
        names = legend(page)
        for _ in range(size):
            page.keyboard.press("Space")
            page.keyboard.press("ArrowRight")
        selected = [int(c.get_attribute("data-face")) for c in page.locator(".card.selected").all()]
        assert len(selected) == size
        page.keyboard.press(key)
        name = names[int(key) - 1]
        expected.update(dict.fromkeys(selected, name))
        done += size
        wait_done(done)
        assert legend(page)[0] == name
    assert done == 20
    # The home page counts her 20 labels today (the first three were labeled the long way too).
    assert home_figures(page, live_server) == {"faces": 30, "unlabeled": 7, "today-mine": 23, "today": 23}

    # The database agrees: 20 faces, each with the idol of its key, by her hand.
    labels = FaceLabel.objects.filter(face_id__in=list(expected))
    assert {label.face_id: label.idol.name for label in labels} == expected
    assert {(label.how, label.created_by_id) for label in labels} == {(How.MANUAL, labeler.pk)}
    assert FaceLabel.objects.count() == 23  # and nothing else was labeled
    assert page.locator("#page-progress").inner_text() == plural(
        page, "%(done)s of %(total)s on this page labeled", "%(done)s of %(total)s on this page labeled", 27
    ) % {"done": 20, "total": 27}
    assert left(page) == 7
    # (written by the page's script, from the JavaScript catalog)
    djangojs = page.evaluate("ngettext('%s unlabeled face left', '%s unlabeled faces left', 7)")
    assert (djangojs != "%s unlabeled faces left") == (page.language == "ja")
    assert page.locator("#unlabeled-left").inner_text() == djangojs % 7
    shot(page, f"keys-labeled-{page.language}", top=True)

    # Kept on the server: a reload shows the same legend and the count the page ended with.
    shown = legend(page)
    page.reload()
    assert legend(page) == shown
    assert left(page) == 7 and page.locator(".card").count() == 7

    # A click on a name of the legend does as her key.
    target = focused(page)
    page.locator("#idol-keys-list li").nth(1).click()
    page.locator(f'.card[data-face="{target}"] .chip', has_text=shown[1]).wait_for()
    assert FaceLabel.objects.get(face_id=target).idol.name == shown[1]
    assert left(page) == 6
    shown = legend(page)

    # A graduated idol leaves the keys; the others move up.
    services.idol_soft_delete(idol=next(i for i in (haruka, misaki, hina) if i.name == shown[0]), reason="graduated")
    page.reload()
    assert legend(page) == shown[1:]
    assert legend_keys(page) == [str(n) for n in range(1, len(shown))]
    assert yui.name not in legend(page)
