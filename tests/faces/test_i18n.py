"""Photos and faces speak the caller's language: refusals from the API, the admin's model and
field names, its actions' messages. The machine-readable codes stay the same in every language."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from knox.models import AuthToken
from rest_framework.test import APIClient

from faces.models import Face, Photo, Source
from labeling.roles import assign_role
from tests.factories import make_photo

pytestmark = pytest.mark.django_db

JA = {"HTTP_ACCEPT_LANGUAGE": "ja"}


@pytest.fixture
def api(django_user_model):
    """A client with the admin role's token: it uploads, trashes and restores photos."""
    user = django_user_model.objects.create_user(username="api-admin", password="pw-123456")
    assign_role(user, "admin")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
    return client


def _upload(api, data: bytes, **headers):
    return api.post("/api/photos/", {"image": SimpleUploadedFile("p.jpg", data)}, format="multipart", **headers)


def test_a_corrupt_upload_is_refused_in_the_callers_language(api):
    page = b"<!doctype html><html><body>not a photo</body></html>"
    japanese = _upload(api, page, **JA)
    english = _upload(api, page)
    assert japanese.status_code == english.status_code == 400
    assert japanese.json()["error"] == english.json()["error"] == "invalid_image"
    assert japanese.json()["detail"] == "ファイルが HTML ページです (対応形式: JPEG、PNG、GIF、WebP、BMP、TIFF)"
    assert english.json()["detail"] == "the file is an HTML page (accepted: JPEG, PNG, GIF, WebP, BMP, TIFF)"


def test_a_conflict_keeps_its_code_and_says_why_in_japanese(api):
    photo = make_photo()
    assert api.post(f"/api/photos/{photo.pk}/trash/").status_code == 200
    japanese = api.post(f"/api/photos/{photo.pk}/trash/", **JA)
    english = api.post(f"/api/photos/{photo.pk}/trash/")
    assert japanese.status_code == english.status_code == 409
    assert japanese.json()["error"] == english.json()["error"] == "already_trashed"
    assert japanese.json()["detail"] == f"写真 {photo.pk} はすでにゴミ箱にあります"
    assert english.json()["detail"] == f"photo {photo.pk} is already in the trash"


def test_a_missing_row_is_named_by_its_japanese_model_name(api):
    response = api.get("/api/photos/987654/", **JA)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "ID 987654 の写真はありません", "fields": {}}
    assert api.get("/api/photos/987654/").json()["detail"] == "no photo with id 987654"


def test_models_and_fields_have_japanese_names():
    with translation.override("ja"):
        assert str(Photo._meta.verbose_name) == "写真"
        assert str(Face._meta.verbose_name_plural) == "顔"
        assert str(Source._meta.verbose_name) == "取得元"
        assert str(Photo._meta.get_field("trashed_at").verbose_name) == "ゴミ箱へ移動した日時"
        assert Photo.Status.DETECTED.label == "検出済み"
    with translation.override("en"):
        assert str(Photo._meta.verbose_name) == "photo"
        assert Photo.Status.DETECTED.label == "Detected"


def test_the_photo_admin_is_japanese_for_a_japanese_browser(client, admin_user):
    make_photo()
    client.force_login(admin_user)
    url = reverse("admin:faces_photo_changelist")
    page = client.get(url, **JA).content.decode()
    assert "変更する 写真 を選択" in page
    assert "写真と顔" in page  # the app's name in the breadcrumbs
    assert "ゴミ箱以外" in page and "新規 (検出待ち)" in page  # a list filter and a status
    assert "Select photo to change" in client.get(url).content.decode()


def test_the_admins_trash_action_reports_in_japanese(client, admin_user):
    photo = make_photo()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:faces_photo_changelist"),
        {"action": "trash_photos", "_selected_action": [photo.pk]},
        follow=True,
        **JA,
    )
    assert "1 枚の写真をゴミ箱へ移動しました。" in response.content.decode()
    assert Photo.all_objects.get(pk=photo.pk).is_trashed
