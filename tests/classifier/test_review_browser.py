"""The review page in a real browser: a labeler rejects a suggestion with ``n``, accepts the
rest of the page with ``a``, undoes with ``u``, and the database agrees."""

from __future__ import annotations

import pytest

from classifier.models import ModelVersion, Suggestion, SuggestionRejection
from labeling.models import FaceLabel, How
from labeling.roles import assign_role
from tests.factories import make_face, make_idol
from tests.labeling.test_browser import XSS, browser, page, sign_in  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not __import__("pathlib").Path("/usr/bin/chromium").exists(), reason="needs chromium"),
]


def suggested_faces(idols, n):
    version = ModelVersion.objects.create(
        directory="v",
        format_version=1,
        class_idol_ids=[i.pk for i in idols],
        input_size=16,
        fingerprint="b" * 64,
        val_top1=0.9,
        is_active=True,
    )
    faces = [make_face() for _ in range(n)]
    for n, face in enumerate(faces):
        top = [{"idol": idols[n % 2].pk, "p": 0.9 - n / 10}, {"idol": idols[(n + 1) % 2].pk, "p": 0.05}]
        Suggestion.objects.create(
            face=face,
            model_version=version,
            idol_id=top[0]["idol"],
            probability=top[0]["p"],
            margin=top[0]["p"] - 0.05,
            top=top,
        )
    return faces


def test_keyboard_review(page, live_server, django_user_model):  # noqa: F811
    labeler = django_user_model.objects.create_user("rin", password="pw-rin-1234")
    assign_role(labeler, "labeler")
    idols = [make_idol(XSS), make_idol("Mio")]
    faces = suggested_faces(idols, 4)
    sign_in(page, live_server, "rin", "pw-rin-1234")
    page.goto(f"{live_server.url}/review/")
    assert page.locator(".card").count() == 4
    assert XSS in page.locator(".card .chip").first.inner_text()  # shown as text, not run
    page.keyboard.press("n")
    page.wait_for_selector(".status.show")
    page.keyboard.press("a")
    page.wait_for_function("document.querySelectorAll('.card.accepted').length === 3")
    page.wait_for_function("document.getElementById('status').textContent.indexOf('Accepted 3') === 0")
    assert SuggestionRejection.objects.get().face_id == faces[0].pk
    assert set(FaceLabel.objects.values_list("face_id", "how")) == {(f.pk, How.SUGGESTION) for f in faces[1:]}
    page.keyboard.press("u")
    page.wait_for_function("document.querySelectorAll('.card.accepted').length === 0")
    assert not FaceLabel.objects.exists()


def test_pick_mode_rejects_by_key_and_enter_accepts_the_rest(page, live_server, django_user_model):  # noqa: F811
    labeler = django_user_model.objects.create_user("rin", password="pw-rin-1234")
    assign_role(labeler, "labeler")
    idols = [make_idol("Aoi"), make_idol("Mio")]
    faces = suggested_faces(idols, 5)  # probabilities 0.9 ... 0.5: the last face gets key "a"
    sign_in(page, live_server, "rin", "pw-rin-1234")
    page.goto(f"{live_server.url}/review/")
    assert page.locator(f"#face-{faces[4].pk} .hint").inner_text() == "a"
    assert page.locator(f"#face-{faces[3].pk} .hint").inner_text() == "s"
    page.keyboard.press("x")
    page.wait_for_selector(".review.picking")
    page.keyboard.press("s")  # not y/n/a here: keys pick faces
    page.wait_for_function("document.querySelector('[data-stat=rejected]').textContent === '1'")
    page.keyboard.press("a")
    page.wait_for_function("document.querySelector('[data-stat=rejected]').textContent === '2'")
    page.keyboard.press("q")  # nobody's key: said, nothing changes
    page.wait_for_function("document.getElementById('status').textContent.indexOf('No face has the key') === 0")
    page.keyboard.press("Backspace")  # undoes the last pick
    page.wait_for_function("document.querySelectorAll('.card.rejected').length === 1")
    page.keyboard.press("a")
    page.wait_for_function("document.querySelectorAll('.card.rejected').length === 2")
    page.wait_for_function("document.querySelector('[data-stat=rejected]').textContent === '2'")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # accepts the three others, then the next faces
    # left: the two rejected faces, each with its next suggestion (the other idol)
    page.wait_for_function("document.querySelectorAll('.card').length === 2")
    assert page.locator(f"#face-{faces[4].pk} .chip").inner_text() == "Mio"
    assert set(SuggestionRejection.objects.values_list("face_id", flat=True)) == {faces[3].pk, faces[4].pk}
    assert set(FaceLabel.objects.values_list("face_id", "how")) == {(f.pk, How.SUGGESTION) for f in faces[:3]}
    page.wait_for_selector(".review.picking")  # pick mode stays on, page after page
    page.keyboard.press("Backspace")  # the accept of the page Enter left is undone on the next one
    page.wait_for_function("document.getElementById('status').textContent.indexOf('Undone') === 0")
    assert not FaceLabel.objects.exists()
    page.keyboard.press("s")  # the other face's key, right away
    page.wait_for_function("document.querySelectorAll('.card.rejected').length === 1")
    page.keyboard.press("Escape")  # leaves pick mode, also for the pages after
    page.wait_for_function("!document.querySelector('.review.picking')")
    page.reload()
    page.wait_for_selector(".card")
    assert page.locator(".review.picking").count() == 0
