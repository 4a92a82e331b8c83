from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from faces import services as face_services
from faces.models import Face, Photo, Source
from labeling import services
from labeling.models import FaceLabel, Idol, IdolAlias, LabelEvent
from tests.factories import make_face, make_group, make_idol

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    group = make_group("Sakura Gakuin")
    idol = make_idol("Moa", reading="もあ", group=group)
    graduated = make_idol("Yui")
    face = make_face()
    services.face_label(face=face, idol=idol)
    services.face_label(face=make_face(), idol=graduated)
    services.idol_soft_delete(idol=graduated)
    excluded = make_face()
    services.face_exclude(face=excluded, reason=Face.ExclusionReason.NOT_A_FACE)
    trashed = make_face()
    face_services.photo_trash(photo=trashed.photo)
    Source.objects.create(kind=Source.Kind.RSS, name="News", locator="https://example.org/feed.xml")
    return {"idol": idol, "graduated": graduated, "face": face, "group": group}


def test_every_admin_list_and_change_page_answers_200(client, admin_user, data):
    client.force_login(admin_user)
    checked = 0
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = client.get(changelist)
        assert response.status_code == 200, changelist
        response = client.get(changelist, {"q": "mo"})
        assert response.status_code == 200, f"{changelist}?q="
        manager = getattr(model, "all_objects", model._default_manager)
        for obj in manager.all()[:3]:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            assert client.get(url).status_code == 200, url
            checked += 1
        if model_admin.has_add_permission(type("R", (), {"user": admin_user})()):
            add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
            assert client.get(add).status_code == 200, add
    assert checked >= 10


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("admin:faces_photo_changelist", {"trash": "trashed"}),
        ("admin:faces_photo_changelist", {"trash": "any", "status": "new"}),
        ("admin:faces_face_changelist", {"labeled": "no"}),
        ("admin:faces_face_changelist", {"labeled": "yes"}),
        ("admin:faces_face_changelist", {"labeled": "several"}),
        ("admin:faces_face_changelist", {"excluded__exact": "1"}),
        ("admin:labeling_idol_changelist", {"status": "deleted"}),
        ("admin:labeling_idol_changelist", {"status": "any"}),
    ],
)
def test_admin_filters_answer_200(client, admin_user, data, url, params):
    client.force_login(admin_user)
    assert client.get(reverse(url), params).status_code == 200


def test_graduated_idols_are_hidden_by_default_but_reachable(client, admin_user, data):
    client.force_login(admin_user)
    url = reverse("admin:labeling_idol_changelist")
    assert "Yui" not in client.get(url).content.decode()
    assert "Yui" in client.get(url, {"status": "deleted"}).content.decode()


def test_idol_search_by_reading_alias_group_and_kana_folding(client, admin_user, data):
    client.force_login(admin_user)
    services.idol_rename(idol=data["idol"], name="Moa Kikuchi")
    url = reverse("admin:labeling_idol_changelist")
    for term in ["モア", "ﾓｱ", "Moa", "sakura gakuin", "moa kikuchi"]:
        assert "Moa Kikuchi" in client.get(url, {"q": term}).content.decode(), term


def test_autocomplete_offers_active_idols_only(client, admin_user, data):
    client.force_login(admin_user)
    response = client.get(
        reverse("admin:autocomplete"),
        {"term": "", "app_label": "labeling", "model_name": "facelabel", "field_name": "idol"},
    )
    names = {r["text"] for r in response.json()["results"]}
    assert "Moa" in names and "Yui" not in names
    response = client.get(
        reverse("admin:autocomplete"),
        {"term": "yu", "app_label": "labeling", "model_name": "facelabel", "field_name": "idol"},
    )
    assert response.json()["results"] == []


def test_admin_actions_graduate_restore_and_merge(client, admin_user, data):
    client.force_login(admin_user)
    url = reverse("admin:labeling_idol_changelist")
    idol, graduated = data["idol"], data["graduated"]
    client.post(url, {"action": "graduate", "_selected_action": [idol.pk]})
    assert Idol.all_objects.get(pk=idol.pk).deletion_reason == "graduated"
    client.post(url + "?status=any", {"action": "restore", "_selected_action": [idol.pk, graduated.pk]})
    assert Idol.objects.filter(pk__in=[idol.pk, graduated.pk]).count() == 2

    page = client.post(url, {"action": "merge", "_selected_action": [idol.pk, graduated.pk]})
    assert page.status_code == 200 and b"Keep which idol?" in page.content
    client.post(url, {"action": "merge", "_selected_action": [idol.pk, graduated.pk], "keep": idol.pk, "apply": "1"})
    assert Idol.all_objects.get(pk=graduated.pk).merged_into_id == idol.pk
    assert FaceLabel.objects.filter(idol=idol).count() == 2


def test_admin_rename_goes_through_the_service(client, admin_user, data):
    client.force_login(admin_user)
    idol = data["idol"]
    url = reverse("admin:labeling_idol_change", args=[idol.pk])
    form = {
        "name": "Moa K",
        "reading": "もあ",
        "handles": "{}",
        "notes": "",
        "aliases-TOTAL_FORMS": "0",
        "aliases-INITIAL_FORMS": "0",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    idol.refresh_from_db()
    assert idol.name == "Moa K"
    assert IdolAlias.objects.filter(idol=idol, name="Moa", kind=IdolAlias.Kind.OLD_NAME).exists()


def test_admin_face_label_inline_records_events(client, admin_user, data):
    client.force_login(admin_user)
    face = make_face()
    url = reverse("admin:faces_face_change", args=[face.pk])
    form = {
        "labels-TOTAL_FORMS": "1",
        "labels-INITIAL_FORMS": "0",
        "labels-0-idol": str(data["idol"].pk),
        "labels-0-face": str(face.pk),
    }
    response = client.post(url, form)
    assert response.status_code == 302
    assert FaceLabel.objects.filter(face=face, idol=data["idol"]).exists()
    assert LabelEvent.objects.filter(face=face, user=admin_user).count() == 1


def test_photo_actions_trash_and_restore(client, admin_user, data):
    client.force_login(admin_user)
    photo = data["face"].photo
    url = reverse("admin:faces_photo_changelist")
    client.post(url, {"action": "trash_photos", "_selected_action": [photo.pk]})
    assert Photo.all_objects.get(pk=photo.pk).is_trashed
    client.post(url + "?trash=trashed", {"action": "restore_photos", "_selected_action": [photo.pk]})
    assert not Photo.all_objects.get(pk=photo.pk).is_trashed


def test_face_exclude_action_and_event_undo(client, admin_user, data):
    client.force_login(admin_user)
    face = data["face"]
    client.post(reverse("admin:faces_face_changelist"), {"action": "exclude_not_target", "_selected_action": [face.pk]})
    face.refresh_from_db()
    assert face.excluded and not face.labels.exists()
    event = LabelEvent.objects.filter(face_id=face.pk, action=LabelEvent.Action.EXCLUDED).get()
    client.post(reverse("admin:labeling_labelevent_changelist"), {"action": "undo", "_selected_action": [event.pk]})
    face.refresh_from_db()
    assert not face.excluded and face.labels.filter(idol=data["idol"]).exists()


def test_media_needs_sign_in(client, admin_user, data):
    url = data["face"].crop.url
    assert client.get(url).status_code == 302
    client.force_login(admin_user)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert client.get("/media/../../etc/passwd").status_code in (400, 404)


def test_idol_page_shows_face_thumbnails_as_images(client, admin_user, data):
    client.force_login(admin_user)
    html = client.get(reverse("admin:labeling_idol_change", args=[data["idol"].pk])).content.decode()
    assert f'<img src="{data["face"].crop.url}"' in html
    assert "&lt;img" not in html


def test_admin_refuses_a_second_open_membership_with_a_message(client, admin_user, data):
    client.force_login(admin_user)
    group, idol = data["group"], data["idol"]
    url = reverse("admin:labeling_idolgroup_change", args=[group.pk])
    existing = idol.memberships.get()
    form = {
        "name": group.name,
        "reading": "",
        "notes": "",
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": str(existing.pk),
        "memberships-0-group": str(group.pk),
        "memberships-0-idol": str(idol.pk),
        "memberships-1-group": str(group.pk),
        "memberships-1-idol": str(idol.pk),
    }
    response = client.post(url, form)
    assert response.status_code == 200  # the form again, with the error; not a 500
    assert idol.memberships.count() == 1


def test_admin_adds_an_idol_with_an_alias_and_a_group(client, admin_user, data):
    client.force_login(admin_user)
    form = {
        "name": "Hina",
        "reading": "ひな",
        "handles": '{"x": "hina_x"}',
        "notes": "",
        "aliases-TOTAL_FORMS": "1",
        "aliases-INITIAL_FORMS": "0",
        "aliases-0-name": "Hinatan",
        "aliases-0-kind": "nickname",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "0",
        "memberships-0-group": str(data["group"].pk),
        "memberships-0-joined": "2024-04-01",
    }
    response = client.post(reverse("admin:labeling_idol_add"), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    idol = Idol.objects.get(name="Hina")
    assert list(idol.aliases.values_list("name", flat=True)) == ["Hinatan"]
    assert idol.memberships.get().group == data["group"]
    assert "hinatan" in idol.search_text and "sakura gakuin" in idol.search_text and "hina_x" in idol.search_text


@pytest.mark.parametrize(
    "url",
    [
        "/admin/labeling/labelevent/?idol=99999999999999999999",
        "/admin/labeling/labelevent/?face=99999999999999999999",
        "/admin/faces/face/?photo=99999999999999999999",
        "/admin/labeling/idol/?memberships__group__id__exact=99999999999999999999",
    ],
)
def test_admin_lists_answer_400_not_500_for_ids_past_64_bits(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code in (200, 400), response.status_code  # PostgreSQL compares them; SQLite cannot
