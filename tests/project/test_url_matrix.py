"""Every URL pattern of the site x every kind of caller: who may open which page, run which
action, download which file.

The patterns are read from the URL configuration (``get_resolver()``, recursively): a pattern
that no rule below classifies fails ``test_every_url_pattern_is_classified`` with its name, so
a new page, action or file route is closed to review until someone adds it here.

- Pages, page actions and media (``ROUTES``): each case names the outcome for each caller:
  allowed (the status of a successful call), ``LOGIN`` (signed out: the sign-in page), 403 (a
  weaker role; a user without a role gets the page that says so) or 404 (hidden: files of
  trashed photos and files of no row, for all but admins).
- The REST API: every endpoint and method is in tests/api/test_matrix.py's ``MATRIX``, which
  runs each one for anonymous, no role, viewer, labeler and admin.
- The Django admin (hundreds of patterns): a pattern rule (the admin's own views and the five
  views of each registered model), and representative pages checked for each caller: staff
  status to enter, then the model permissions the roles carry.

A user without a role reaches nothing but signing in and out and their own token.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from classifier.ml.evaluation import IMAGES
from labeling import services
from labeling.roles import assign_role
from tests.api.test_matrix import MATRIX as API_MATRIX
from tests.api.world import World, build_world
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

# Callers: signed out; signed in without a role (staff or not); each role; staff with a role;
# a superuser (an admin).
CALLERS = ("anonymous", "norole", "staff", "viewer", "staff_viewer", "labeler", "admin", "superuser")
RANK = {
    "anonymous": 0,
    "norole": 1,
    "staff": 1,
    "viewer": 2,
    "staff_viewer": 2,
    "labeler": 3,
    "admin": 4,
    "superuser": 4,
}
ROLE_OF = {"viewer": "viewer", "staff_viewer": "viewer", "labeler": "labeler", "admin": "admin"}
STAFF = {"staff", "staff_viewer", "superuser"}
NO_ROLE = {"norole", "staff"}

LOGIN = "sign-in page"  # 302 to the labeling sign-in page
ADMIN_LOGIN = "admin sign-in page"  # 302 to the admin's sign-in page
DENIED, HIDDEN = 403, 404
Outcome = int | str
Expect = Callable[[str], Outcome]


@dataclass(frozen=True)
class Case:
    method: str
    expect: Expect
    kwargs: Callable[[Any], dict[str, Any]] = lambda w: {}
    data: Callable[[Any, Any], Any] = lambda w, user: None
    json: bool = False  # a JSON action: the body is JSON, 403s answer JSON
    answers_json: bool = False  # a form body (a file upload), answered as a JSON action is
    query: str = ""
    label: str = ""


def role(weakest: str, ok: int, *, anonymous: Outcome = LOGIN) -> Expect:
    """``ok`` for ``weakest`` and stronger roles, 403 for weaker ones and users without a role."""

    def expect(caller: str) -> Outcome:
        if caller == "anonymous":
            return anonymous
        return ok if RANK[caller] >= RANK[weakest] else DENIED

    return expect


def everyone(ok: int) -> Expect:
    return lambda caller: ok


def admin_only_file(caller: str) -> Outcome:
    """Files of trashed photos and files of no row: admins; others with a role: hidden."""
    if caller == "anonymous":
        return LOGIN
    if caller in NO_ROLE:
        return DENIED
    return 200 if RANK[caller] >= RANK["admin"] else HIDDEN


def json_action(weakest: str, ok: int = 200) -> Expect:
    return role(weakest, ok, anonymous=DENIED)  # JSON actions answer 403 "sign in first"


def _own_batch(w: Any, user: Any) -> dict[str, str]:
    batch = uuid.uuid4()
    services.face_label(face=w.unlabeled, idol=w.other, user=user, batch=batch)
    return {"batch": str(batch)}


def _photo(w: Any) -> dict[str, int]:
    return {"photo_id": w.photo.pk}


def _idol(w: Any) -> dict[str, int]:
    return {"idol_id": w.idol.pk}


def _failed_photo(w: Any) -> dict[str, int]:
    from faces.models import Photo

    Photo.all_objects.filter(pk=w.photo.pk).update(status=Photo.Status.FAILED, error="boom")
    return {"photo_id": w.photo.pk}


def _media(name: Callable[[Any], str]) -> Callable[[Any], dict[str, str]]:
    return lambda w: {"path": name(w)}


def _line_bot(w: Any) -> dict[str, str]:
    from bots.models import BotAccount

    bot, _ = BotAccount.objects.get_or_create(name="matrix-line", kind="line", secret="s", token="t")
    return {"name": bot.name}


def _bot_picture(w: Any) -> dict[str, str]:
    name = "p" * 43
    default_storage.save(f"bots/answers/{name}.jpg", ContentFile(image_bytes(64, 64)))
    return {"name": name}


# URL name -> the cases that exercise it. A new page or action: add it here.
ROUTES: dict[str, list[Case]] = {
    "home": [Case("get", role("viewer", 200))],
    "favicon": [Case("get", everyone(302))],
    # probes: open to all (load balancers carry no credentials); metrics: off unless a token or
    # an allow-list is set (tests/ops/test_metrics.py), so a URL that does not exist
    "healthz": [Case("get", everyone(200))],
    "readyz": [Case("get", everyone(200))],
    "metrics": [Case("get", everyone(404))],
    # signing in and out
    "labeling:login": [
        Case("get", lambda caller: 200 if caller == "anonymous" else 302),  # signed in: on to the grid
        Case("post", everyone(302), data=lambda w, u: {"username": "owner", "password": "pw-owner-1"}),
    ],
    "labeling:logout": [Case("post", everyone(302))],
    # the language switch and the JavaScript's translations: the sign-in page needs both
    "set_language": [Case("post", everyone(302), data=lambda w, u: {"language": "en"})],
    "javascript-catalog": [Case("get", everyone(200))],
    # the labeling pages and their JSON actions
    "labeling:grid": [Case("get", role("viewer", 200))],
    "labeling:api-label": [
        Case(
            "post",
            json_action("labeler"),
            json=True,
            data=lambda w, u: {"face_ids": [w.unlabeled.pk], "idol": w.other.pk},
        )
    ],
    "labeling:api-unlabel": [
        Case(
            "post", json_action("labeler"), json=True, data=lambda w, u: {"face_ids": [w.labeled.pk], "idol": w.idol.pk}
        )
    ],
    "labeling:api-exclude": [
        Case(
            "post",
            json_action("labeler"),
            json=True,
            data=lambda w, u: {"face_ids": [w.unlabeled.pk], "reason": "not_target"},
        )
    ],
    "labeling:api-include": [
        Case("post", json_action("labeler"), json=True, data=lambda w, u: {"face_ids": [w.excluded.pk]})
    ],
    "labeling:api-undo": [Case("post", json_action("labeler"), json=True, data=_own_batch)],
    "labeling:idol-search": [Case("get", role("viewer", 200), query="?q=suzu")],
    "labeling:idol-create": [
        Case("post", json_action("labeler", 201), json=True, data=lambda w, u: {"name": "New One"})
    ],
    "labeling:idols": [Case("get", role("viewer", 200))],
    "labeling:idol": [Case("get", role("viewer", 200), kwargs=_idol)],
    "labeling:idol-graduate": [
        Case("post", role("admin", 302), kwargs=_idol, data=lambda w, u: {"reason": "graduated"})
    ],
    "labeling:idol-restore": [Case("post", role("admin", 302), kwargs=lambda w: {"idol_id": w.graduated.pk})],
    "labeling:idol-rename": [Case("post", role("admin", 302), kwargs=_idol, data=lambda w, u: {"name": "Su-metal"})],
    "labeling:idol-merge": [
        Case(
            "post", role("admin", 302), kwargs=lambda w: {"idol_id": w.other.pk}, data=lambda w, u: {"into": w.idol.pk}
        )
    ],
    "labeling:photo": [
        Case("get", role("viewer", 200), kwargs=_photo),
        Case("get", role("viewer", 200), kwargs=lambda w: {"photo_id": w.trashed_photo.pk}, label="trashed"),
    ],
    "labeling:photos": [Case("get", role("viewer", 200))],
    "labeling:photos-status": [Case("get", role("viewer", 200), query="?ids=1,2,3")],
    "labeling:photos-upload": [
        Case(
            "post",
            json_action("labeler", 201),
            answers_json=True,
            data=lambda w, u: {"image": SimpleUploadedFile("new.jpg", image_bytes(320, 240), "image/jpeg")},
        )
    ],
    "labeling:photo-card": [Case("get", role("viewer", 200), kwargs=_photo)],
    "labeling:photo-retry": [Case("post", json_action("labeler"), json=True, kwargs=_failed_photo)],
    "labeling:photo-face-add": [
        Case("post", role("labeler", 302), kwargs=_photo, data=lambda w, u: {"x": 20, "y": 100, "w": 40, "h": 40})
    ],
    "labeling:photo-face-exclude": [
        Case(
            "post",
            role("labeler", 302),
            kwargs=lambda w: {"photo_id": w.photo.pk, "face_id": w.unlabeled.pk},
            data=lambda w, u: {"reason": "not_target"},
        )
    ],
    "labeling:photo-face-include": [
        Case("post", role("labeler", 302), kwargs=lambda w: {"photo_id": w.photo.pk, "face_id": w.excluded.pk})
    ],
    "labeling:face-similar": [Case("get", role("viewer", 200), kwargs=lambda w: {"face_id": w.labeled.pk})],
    "labeling:activity": [Case("get", role("viewer", 200))],
    "labeling:activity-undo": [Case("post", role("labeler", 302), data=_own_batch)],
    # files: the photo, its thumbnail and its faces' crops
    "media": [
        Case("get", role("viewer", 200), kwargs=_media(lambda w: w.photo.image.name), label="photo"),
        Case("get", role("viewer", 200), kwargs=_media(lambda w: w.photo.thumbnail.name), label="thumbnail"),
        Case("get", role("viewer", 200), kwargs=_media(lambda w: w.unlabeled.crop.name), label="crop"),
        Case("get", admin_only_file, kwargs=_media(lambda w: w.trashed_photo.image.name), label="trashed photo"),
        Case(
            "get", admin_only_file, kwargs=_media(lambda w: w.trashed_photo.thumbnail.name), label="trashed thumbnail"
        ),
        Case("get", admin_only_file, kwargs=_media(lambda w: w.trashed_crop), label="trashed crop"),
        Case("get", admin_only_file, kwargs=_media(lambda w: w.orphan), label="no row"),
    ],
    # the bots: LINE's webhook proves itself by its signature alone (none here: 400 for all);
    # a numbered picture is public to whoever has its random name (LINE fetches it)
    "bots:line-webhook": [
        Case("post", everyone(400), kwargs=_line_bot),
        Case("post", everyone(404), kwargs=lambda w: {"name": "no-such-bot"}, label="unknown bot"),
    ],
    "bots:picture": [
        Case("get", everyone(200), kwargs=_bot_picture),
        Case("get", everyone(404), kwargs=lambda w: {"name": "q" * 43}, label="no such picture"),
    ],
    # the classifier's pages: the same roles as /api/training-runs/ and /api/model-versions/
    "classifier:run_list": [Case("get", role("viewer", 200))],
    "classifier:run_detail": [Case("get", role("viewer", 200), kwargs=lambda w: {"pk": w.run.pk})],
    "classifier:run_cancel": [Case("post", role("admin", 302), kwargs=lambda w: {"pk": w.run.pk})],
    # the world's run is a queued network training: starting another answers it, queues nothing
    "classifier:run_start": [Case("post", role("admin", 302), data=lambda w, u: {"recognizer": "network"})],
    "classifier:version_activate": [Case("post", role("admin", 302), kwargs=lambda w: {"pk": w.version.pk})],
    "classifier:version_unpin": [Case("post", role("admin", 302), kwargs=lambda w: {"pk": w.version.pk})],
    "classifier:version_image": [
        Case("get", role("viewer", 200), kwargs=lambda w: {"pk": w.version.pk, "name": IMAGES[0]})
    ],
    # active learning: the review page and its JSON actions, the clusters
    "classifier:review": [Case("get", role("viewer", 200))],
    "classifier:review-accept": [
        Case(
            "post",
            json_action("labeler"),
            json=True,
            data=lambda w, u: {"face_ids": [w.unlabeled.pk], "idol": w.other.pk},
        )
    ],
    "classifier:review-reject": [
        Case(
            "post",
            json_action("labeler"),
            json=True,
            data=lambda w, u: {"face_ids": [w.unlabeled.pk], "idol": w.other.pk},
        )
    ],
    "classifier:review-unreject": [
        Case(
            "post",
            json_action("labeler"),
            json=True,
            data=lambda w, u: {"face_ids": [w.unlabeled.pk], "idol": w.other.pk},
        )
    ],
    "classifier:clusters": [Case("get", role("viewer", 200))],
    "classifier:cluster-rebuild": [Case("post", role("labeler", 302))],
    "classifier:cluster-name": [
        Case(
            "post", role("labeler", 302), kwargs=lambda w: {"pk": w.cluster.pk}, data=lambda w, u: {"idol": w.other.pk}
        )
    ],
    "classifier:cluster-split": [
        Case(
            "post",
            role("labeler", 302),
            kwargs=lambda w: {"pk": w.cluster.pk},
            data=lambda w, u: {"faces": [w.unlabeled.pk]},
        )
    ],
}


# --- the Django admin -----------------------------------------------------------------------


def staff(ok: Outcome, *, no_role: Outcome | None = None, viewer: Outcome | None = None) -> Expect:
    """The admin site: signed out and non-staff callers go to its sign-in page (staff status
    enters, whatever the role); then the model permissions decide: ``no_role`` for staff
    without a role, ``viewer`` for staff with the viewer role, ``ok`` for a superuser."""

    def expect(caller: str) -> Outcome:
        if caller not in STAFF:
            return ADMIN_LOGIN
        return {"staff": ok if no_role is None else no_role, "staff_viewer": ok if viewer is None else viewer}.get(
            caller, ok
        )

    return expect


ADMIN_CASES: dict[str, list[Case]] = {
    "admin:index": [Case("get", staff(200))],
    "admin:login": [Case("get", lambda caller: 302 if caller in STAFF else 200)],
    "admin:faces_photo_changelist": [Case("get", staff(200, no_role=DENIED))],
    "admin:faces_source_delete": [
        Case("get", staff(200, no_role=DENIED, viewer=DENIED), kwargs=lambda w: {"object_id": w.source.pk})
    ],
    "admin:labeling_idol_change": [Case("get", staff(200, no_role=DENIED), kwargs=lambda w: {"object_id": w.idol.pk})],
    # The merge of the idols ?ids= (where a refused rename links); without two ids, back to the list.
    "admin:labeling_idol_merge": [Case("get", staff(302, no_role=DENIED, viewer=DENIED))],
    "admin:classifier_trainingrun_changelist": [Case("get", staff(200, no_role=DENIED, viewer=DENIED))],
    "admin:axes_accessattempt_changelist": [Case("get", staff(200, no_role=DENIED, viewer=DENIED))],
    "admin:knox_authtoken_changelist": [Case("get", staff(200, no_role=DENIED, viewer=DENIED))],
}

_ADMIN_SITE_VIEWS = {
    "index",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "jsi18n",
    "view_on_site",
    "autocomplete",
    "app_list",
    "auth_user_password_change",  # UserAdmin's own page
}
_MODEL_VIEWS = ("changelist", "add", "history", "delete", "change")


def is_admin_site_pattern(name: str | None, route: str) -> bool:
    """The rule for the admin's patterns: its own views, the five views of each registered
    model (each behind ``admin_view``: staff status, then the model's permissions), the old
    ``<app>/<model>/<id>/`` redirect and the catch-all that answers 404. A custom admin URL
    (a ModelAdmin.get_urls) matches none of these and must be classified by hand."""
    models = {(m._meta.app_label, m._meta.model_name) for m in admin.site._registry}
    if name is not None:
        short = name.removeprefix("admin:")
        return short in _ADMIN_SITE_VIEWS or any(short == f"{a}_{m}_{v}" for a, m in models for v in _MODEL_VIEWS)
    if route == "admin/(?P<url>.*)$":
        return True
    return any(route == f"admin/{a}/{m}/<path:object_id>/" for a, m in models)


# --- the walk -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    name: str | None  # with its namespaces: "labeling:grid"
    route: str
    in_admin: bool


def url_patterns() -> list[Pattern]:
    found: list[Pattern] = []

    def walk(patterns: list[Any], prefix: str, namespace: str, in_admin: bool) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern).lstrip("^")
            if isinstance(entry, URLResolver):
                ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, route, ns, in_admin or entry.app_name == "admin")
            elif isinstance(entry, URLPattern):
                found.append(Pattern(namespace + entry.name if entry.name else None, route, in_admin))

    walk(get_resolver().url_patterns, "", "", False)
    return found


def classify(pattern: Pattern) -> str | None:
    """Which rule covers a pattern, or None."""
    if pattern.in_admin:
        # A custom admin view (a ModelAdmin.get_urls) is classified by its case in ADMIN_CASES.
        return "admin" if is_admin_site_pattern(pattern.name, pattern.route) or pattern.name in ADMIN_CASES else None
    if pattern.name is None:
        return None
    if pattern.name.startswith("api:"):
        return "api" if any(name == pattern.name for name, _ in API_MATRIX) else None
    return "page" if pattern.name in ROUTES else None


def test_every_url_pattern_is_classified():
    patterns = url_patterns()
    unknown = [p.name or p.route for p in patterns if classify(p) is None]
    assert not unknown, f"classify these URL patterns in ROUTES of {__file__} (or the API matrix): {unknown}"
    served = {p.name for p in patterns}
    stale = sorted(set(ROUTES) - served) + sorted(set(ADMIN_CASES) - served)
    assert not stale, f"these routes no longer exist: {stale}"
    kinds = {classify(p) for p in patterns}
    assert kinds == {"page", "api", "admin"}  # the walk reaches every part of the URL conf


def test_the_walk_sees_media_api_admin_and_classifier_patterns():
    names = {p.name for p in url_patterns()}
    assert {"media", "api:token", "admin:index", "classifier:run_cancel", "labeling:grid"} <= names
    assert classify(Pattern("labeling:secret", "label/secret/", False)) is None
    assert classify(Pattern("api:secret", "api/secret/", False)) is None
    assert classify(Pattern("admin:labeling_idol_secret", "admin/labeling/idol/secret/", True)) is None


# --- the calls ------------------------------------------------------------------------------


@pytest.fixture
def world(django_user_model) -> World:
    owner = django_user_model.objects.create_user(username="owner", password="pw-owner-1")
    assign_role(owner, "labeler")
    w = build_world(owner)
    from tests.factories import make_face

    w.trashed_crop = make_face(w.trashed_photo).crop.name  # a face added to the trashed photo
    w.orphan = default_storage.save("crops/00/0000000000000000_left.jpg", ContentFile(image_bytes(64, 64)))
    w.version.path.mkdir(parents=True, exist_ok=True)
    (w.version.path / IMAGES[0]).write_bytes(b"\x89PNG\r\n\x1a\n")
    return w


@pytest.fixture
def make_caller(django_user_model):
    def make(caller: str) -> Any:
        if caller == "anonymous":
            return None
        if caller == "superuser":
            return django_user_model.objects.create_superuser(username="root", password="pw-root-1", email="")
        user = django_user_model.objects.create_user(
            username=f"c-{caller}", password="pw-123456", is_staff=caller in STAFF
        )
        if caller in ROLE_OF:
            assign_role(user, ROLE_OF[caller])
        return user

    return make


def _cases(table: dict[str, list[Case]]) -> list[Any]:
    return [
        pytest.param(name, case, id=f"{case.method.upper()} {name}" + (f" ({case.label})" if case.label else ""))
        for name, cases in sorted(table.items())
        for case in cases
    ]


def _call(client: Any, name: str, case: Case, world: World, user: Any) -> Any:
    url = reverse(name, kwargs=case.kwargs(world)) + case.query
    data = case.data(world, user)
    if case.json:
        return client.post(url, data, content_type="application/json")
    return getattr(client, case.method)(url, data or {})


def _check(response: Any, outcome: Outcome, caller: str, case: Case) -> None:
    body = b"(a file)" if response.streaming else response.content[:200]
    where = (caller, response.status_code, response.get("Location"), body)
    if outcome in (LOGIN, ADMIN_LOGIN):
        login = reverse("labeling:login" if outcome == LOGIN else "admin:login")
        assert response.status_code == 302 and response["Location"].startswith(login + "?next="), where
        return
    assert response.status_code == outcome, where
    if outcome == DENIED and not (case.json or case.answers_json) and caller in NO_ROLE:
        assert b"has no role yet" in response.content, where  # the 403 page says what is missing


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("name", "case"), _cases(ROUTES))
def test_page_access(name, case, caller, client, world, make_caller):
    user = make_caller(caller)
    if user is not None:
        client.force_login(user)
    _check(_call(client, name, case, world, user), case.expect(caller), caller, case)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("name", "case"), _cases(ADMIN_CASES))
def test_admin_site_access(name, case, caller, client, world, make_caller):
    user = make_caller(caller)
    if user is not None:
        client.force_login(user)
    _check(_call(client, name, case, world, user), case.expect(caller), caller, case)


def test_user_without_a_role_signs_in_and_gets_the_no_role_page_not_a_loop(client, make_caller):
    make_caller("norole")
    response = client.post(reverse("labeling:login"), {"username": "c-norole", "password": "pw-123456"}, follow=True)
    assert [url for url, _ in response.redirect_chain] == [reverse("home")]
    assert response.status_code == 403
    assert b"has no role yet" in response.content and b"Ask an admin" in response.content
    again = client.get(reverse("labeling:login"))  # the sign-in page sends a signed-in user on, once
    assert again.status_code == 302 and again["Location"] == reverse("home")
