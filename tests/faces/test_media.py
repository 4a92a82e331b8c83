"""Who downloads which file under /media/: users with a role see the files of live photos (the
photo, its thumbnail, its faces' crops); the files of trashed photos and files that belong to
no row are for admins only; a signed-in user without a role sees none."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from knox.models import AuthToken
from rest_framework.test import APIClient

from faces import services
from faces.views import photo_of_file
from labeling.roles import assign_role
from tests.factories import image_bytes, make_face, make_photo

pytestmark = pytest.mark.django_db


def _urls(photo, face) -> dict[str, str]:
    return {"photo": photo.image.url, "thumbnail": photo.thumbnail.url, "crop": face.crop.url}


@pytest.fixture
def files():
    live = make_photo(data=image_bytes(320, 240))
    trashed = make_photo(data=image_bytes(320, 240))
    live_urls = _urls(live, make_face(live))
    trashed_urls = _urls(trashed, make_face(trashed))
    services.photo_trash(photo=trashed)
    orphan = default_storage.save("crops/00/0000000000000000_orphan.jpg", ContentFile(image_bytes(64, 64)))
    return {"live": live_urls, "trashed": trashed_urls, "orphan": default_storage.url(orphan)}


@pytest.fixture
def make_user(django_user_model):
    def make(role: str | None, **extra):
        user = django_user_model.objects.create_user(username=f"m-{role}", password="pw-123456", **extra)
        if role:
            assign_role(user, role)
        return user

    return make


def test_user_without_a_role_gets_403_on_every_file(client, make_user, files):
    client.force_login(make_user(None, is_staff=True))  # staff alone is no role
    for kind, url in files["live"].items():
        response = client.get(url)
        assert response.status_code == 403, kind
        assert b"has no role yet" in response.content


def test_user_without_a_role_gets_403_by_token_too(make_user, files):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=make_user(None))[1]}")
    for kind, url in files["live"].items():
        assert api.get(url).status_code == 403, kind


@pytest.mark.parametrize("role", ["viewer", "labeler"])
def test_viewers_see_live_files_but_not_trashed_or_orphan_ones(client, make_user, files, role):
    client.force_login(make_user(role))
    for kind, url in files["live"].items():
        response = client.get(url)
        assert response.status_code == 200, kind
        assert response["Content-Type"] == "image/jpeg"
    for kind, url in files["trashed"].items():
        assert client.get(url).status_code == 404, kind
    assert client.get(files["orphan"]).status_code == 404


def test_viewer_token_does_not_see_trashed_files(make_user, files):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=make_user('viewer'))[1]}")
    assert api.get(files["live"]["crop"]).status_code == 200
    for kind, url in files["trashed"].items():
        assert api.get(url).status_code == 404, kind


@pytest.mark.parametrize("superuser", [False, True])
def test_admins_see_trashed_and_orphan_files(client, make_user, admin_user, files, superuser):
    client.force_login(admin_user if superuser else make_user("admin"))
    for kind, url in [*files["live"].items(), *files["trashed"].items(), ("orphan", files["orphan"])]:
        assert client.get(url).status_code == 200, kind
    assert client.get("/media/crops/00/missing.jpg").status_code == 404


def test_anonymous_goes_to_sign_in_and_a_bad_token_is_401(client, files):
    response = client.get(files["live"]["photo"])
    assert response.status_code == 302 and "/label/login/" in response["Location"]
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.get(files["live"]["photo"]).status_code == 401


def test_photo_of_file_finds_the_row_in_one_query(django_assert_num_queries):
    photo = make_photo()
    face = make_face(photo)
    for name in (photo.image.name, photo.thumbnail.name, face.crop.name):
        with django_assert_num_queries(1):
            assert photo_of_file(name) == photo
    # The storage adds a suffix when a name is taken: the row's exact name still matches.
    suffixed = face.crop.name.replace(".jpg", "_Ab12Cd3.jpg")
    type(face).objects.filter(pk=face.pk).update(crop=suffixed)
    assert photo_of_file(suffixed) == photo
    assert photo_of_file(face.crop.name) is None
    for name in (
        f"photos/{photo.sha256[:2]}/{photo.sha256}.png",  # not the stored name
        f"photos/{'01' if photo.sha256.startswith('00') else '00'}/{photo.sha256}.jpg",  # folder and hash differ
        f"crops/{photo.sha256[:2]}/{photo.sha256[:16]}_1_1_1_1.jpg",
        "crops/zz/zzzzzzzzzzzzzzzz_1.jpg",
        "photos/../etc/passwd",
        "other/file.jpg",
        "",
    ):
        assert photo_of_file(name) is None, name


def test_crop_lookup_keeps_photos_apart_that_share_a_hash_prefix():
    photo = make_photo()
    face = make_face(photo)
    assert photo_of_file(face.crop.name.replace(photo.sha256[:16], photo.sha256[:15] + "x")) is None
    last = "f" * 16
    assert photo_of_file(f"crops/ff/{last}_1_1_1_1.jpg") is None  # no upper bound past ffff...


@pytest.fixture
def accel(settings):
    settings.IDOLSITE_MEDIA_ACCEL_REDIRECT = "/protected-media/"


def test_behind_nginx_the_file_is_sent_by_x_accel_redirect_after_the_same_checks(client, make_user, files, accel):
    client.force_login(make_user("viewer"))
    for kind, url in files["live"].items():
        response = client.get(url)
        name = url.removeprefix("/media/")
        assert response.status_code == 200, kind
        assert response["X-Accel-Redirect"] == f"/protected-media/{name}", kind
        assert response.content == b"", kind  # nginx sends the bytes
        assert response["Content-Type"] == "image/jpeg"
        assert response["Cache-Control"] == "private, max-age=86400"
    for kind, url in [*files["trashed"].items(), ("orphan", files["orphan"])]:
        response = client.get(url)
        assert response.status_code == 404 and "X-Accel-Redirect" not in response, kind


@pytest.mark.parametrize("role", [None, "anonymous"])
def test_x_accel_redirect_is_never_sent_to_those_without_a_role(client, make_user, files, accel, role):
    if role is None:
        client.force_login(make_user(None))
    for kind, url in files["live"].items():
        response = client.get(url)
        assert response.status_code in (302, 403), kind
        assert "X-Accel-Redirect" not in response, kind


def test_x_accel_redirect_stays_inside_media_root(client, admin_user, files, accel, settings):
    client.force_login(admin_user)
    outside = settings.MEDIA_ROOT.parent / "secret.txt"
    outside.write_text("not media")
    for path in ("/media/../secret.txt", "/media/%2e%2e/secret.txt", "/media/crops/../../secret.txt", "/media/crops/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "X-Accel-Redirect" not in response, path
    # A name that needs escaping reaches nginx escaped (nginx unescapes X-Accel-Redirect).
    name = default_storage.save("exports/a b#1.jpg", ContentFile(image_bytes(64, 64)))
    response = client.get(default_storage.url(name))
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == "/protected-media/exports/a%20b%231.jpg"


def test_without_the_setting_python_streams_the_file(client, make_user, files, settings):
    settings.IDOLSITE_MEDIA_ACCEL_REDIRECT = ""
    client.force_login(make_user("viewer"))
    response = client.get(files["live"]["crop"])
    assert response.status_code == 200 and "X-Accel-Redirect" not in response
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"  # a JPEG's first bytes
