"""No accidental duplicates: a name that folds to an idol's name, reading, alias or old name is
refused (with the idol who has it) by every path that creates or renames an idol, unless she is
said to be another person with the same name; the picker offers no plain "Create" for it; lists
and pickers show a face, the reading and the groups. Real names from shared/data/idols_ja.csv."""

from __future__ import annotations

import io
import json
import threading

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from labeling import services
from labeling.models import FaceLabel, Idol, IdolAlias
from labeling.search import idol_picker
from labeling.services.names import DuplicateIdol
from tests.factories import image_bytes, make_face, make_group, make_idol

pytestmark = pytest.mark.django_db


@pytest.fixture
def asuka():
    return make_idol("齋藤飛鳥", reading="さいとう あすか", group=make_group("乃木坂46"))


def refused(**kwargs) -> DuplicateIdol:
    with pytest.raises(DuplicateIdol) as caught:
        services.idol_create(**kwargs)
    return caught.value


# --- the rules, through the service -----------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["齋藤飛鳥", "斎藤飛鳥", "斉藤 飛鳥", "齋藤・飛鳥", "  齋藤　飛鳥 ", "さいとうあすか", "ｻｲﾄｳ ｱｽｶ"]
)
def test_a_name_that_folds_to_an_idols_name_or_reading_is_refused(asuka, name):
    error = refused(name=name)
    assert error.code == "duplicate_idol" and error.status == 400
    assert error.existing == asuka and error.extra["existing"] == asuka.pk
    assert "齋藤飛鳥" in error.message and f"#{asuka.pk}" in error.message
    assert Idol.all_objects.count() == 1


def test_case_and_width_fold_latin_names_too():
    smith = make_idol("Will Smith")
    for name in ["will smith", "ＷＩＬＬ　ＳＭＩＴＨ", "WillSmith"]:
        assert refused(name=name).existing == smith


def test_the_same_kanji_with_another_reading_is_another_person(asuka):
    other = services.idol_create(name="斎藤飛鳥", reading="さいとう とびとり")
    assert other.pk != asuka.pk and not other.same_name_ok
    # Without a reading it could be either of them: refused, naming both.
    assert {i.pk for i in refused(name="齋藤飛鳥").matches} == {asuka.pk, other.pk}
    assert refused(name="齋藤飛鳥", reading="サイトウ アスカ").existing == asuka


def test_another_person_with_the_same_name_is_created_when_asked(asuka):
    twin = services.idol_create(name="齋藤飛鳥", reading="さいとう あすか", same_name_ok=True)
    assert twin.same_name_ok and Idol.objects.filter(name="齋藤飛鳥").count() == 2
    assert {i.pk for i in refused(name="斎藤飛鳥").matches} == {asuka.pk, twin.pk}


def test_a_graduated_idol_still_blocks_her_name(asuka):
    services.idol_soft_delete(idol=asuka)
    error = refused(name="斎藤飛鳥")
    assert error.existing == asuka and "graduated" in error.message


def test_a_merged_idol_does_not_block_but_the_one_she_joined_does():
    keep = make_idol("白石麻衣", reading="しらいし まい")
    drop = make_idol("白石まい")
    services.idol_merge(keep=keep, drop=drop)
    error = refused(name="白石まい")  # now an alias of the idol she joined
    assert [i.pk for i in error.matches] == [keep.pk]
    assert "alias" in error.message


def test_an_alias_or_old_name_blocks_a_new_idol_unless_asked():
    mayu = make_idol("渡辺麻友", reading="わたなべ まゆ", aliases=["まゆゆ"])
    assert refused(name="まゆゆ").existing == mayu
    rino = make_idol("指原莉乃")
    services.idol_rename(idol=rino, name="さっしー")  # 指原莉乃 is an old name now
    assert refused(name="指原 莉乃").existing == rino
    assert services.idol_create(name="まゆゆ", same_name_ok=True).same_name_ok


def test_a_rename_onto_an_existing_name_offers_the_merge(asuka):
    other = make_idol("Asuka S.")
    with pytest.raises(DuplicateIdol) as caught:
        services.idol_rename(idol=other, name="斎藤飛鳥")
    assert caught.value.extra["merge"] == {"idol": other.pk, "into": asuka.pk}
    assert "merge" in caught.value.message
    assert Idol.objects.get(pk=other.pk).name == "Asuka S."
    renamed = services.idol_rename(idol=other, name="斎藤飛鳥", same_name_ok=True)
    assert renamed.name == "斎藤飛鳥" and renamed.same_name_ok


def test_a_rename_back_to_her_own_old_name_is_fine():
    yui = make_idol("小林由依")
    services.idol_rename(idol=yui, name="ゆいぽん")
    assert services.idol_rename(idol=yui, name="小林由依").name == "小林由依"


def test_a_new_reading_that_makes_two_namesakes_one_is_refused(asuka):
    other = services.idol_create(name="斎藤飛鳥", reading="さいとう とびとり")
    with pytest.raises(DuplicateIdol):
        services.idol_update(idol=other, reading="さいとう あすか")
    services.idol_update(idol=other, notes="unchanged reading")  # other changes still go through


def test_the_keys_follow_renames_merges_and_aliases():
    idol = make_idol("高山一実", reading="たかやま かずみ", aliases=["かずみん"])
    assert (idol.name_key, idol.reading_key) == ("高山一実", "たかやまかずみ")
    assert IdolAlias.objects.get(idol=idol).name_key == "かずみん"
    services.idol_rename(idol=idol, name="髙山 一実")
    idol.refresh_from_db()
    assert idol.name_key == "高山一実"


def test_the_migration_keys_existing_rows_and_keeps_existing_duplicates():
    from importlib import import_module

    from django.apps import apps

    fill_keys = import_module("labeling.migrations.0004_idol_name_keys").fill_keys
    Idol.all_objects.bulk_create([Idol(name="長濱ねる"), Idol(name="長浜ねる", reading="ながはま ねる")])
    fill_keys(apps, None)
    assert set(Idol.all_objects.values_list("name_key", flat=True)) == {"長浜ねる"}
    assert Idol.all_objects.get(name="長浜ねる").reading_key == "ながはまねる"


# --- the admin ------------------------------------------------------------------------------


def admin_form(**fields) -> dict[str, str]:
    return {
        "handles": "{}",
        "notes": "",
        "aliases-TOTAL_FORMS": "0",
        "aliases-INITIAL_FORMS": "0",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        **fields,
    }


def test_admin_add_is_refused_with_a_link_to_the_existing_idol(client, admin_user, asuka):
    client.force_login(admin_user)
    response = client.post(reverse("admin:labeling_idol_add"), admin_form(name="斎藤飛鳥", reading=""))
    assert response.status_code == 200
    html = response.content.decode()
    assert "is already an idol" in html
    assert f'href="{reverse("admin:labeling_idol_change", args=[asuka.pk])}"' in html
    assert Idol.all_objects.count() == 1


def test_admin_add_goes_through_when_flagged(client, admin_user, asuka):
    client.force_login(admin_user)
    form = admin_form(name="斎藤飛鳥", reading="", same_name_ok="on")
    response = client.post(reverse("admin:labeling_idol_add"), form)
    assert response.status_code == 302
    assert Idol.objects.get(name="斎藤飛鳥").same_name_ok


def test_admin_rename_onto_an_existing_name_links_to_the_merge(client, admin_user, asuka):
    client.force_login(admin_user)
    other = make_idol("Asuka S.")
    url = reverse("admin:labeling_idol_change", args=[other.pk])
    response = client.post(url, admin_form(name="齋藤飛鳥", reading=""))
    assert response.status_code == 200
    merge = reverse("admin:labeling_idol_merge") + f"?ids={other.pk},{asuka.pk}"
    assert f'href="{merge}"' in response.content.decode()
    assert Idol.objects.get(pk=other.pk).name == "Asuka S."
    page = client.get(merge)
    assert page.status_code == 200 and "Asuka S." in page.content.decode()
    done = client.post(
        reverse("admin:labeling_idol_merge"),
        {"_selected_action": [other.pk, asuka.pk], "action": "merge", "keep": asuka.pk, "apply": "Merge"},
    )
    assert done.status_code == 302
    assert Idol.all_objects.get(pk=other.pk).merged_into_id == asuka.pk


def test_admin_changelist_shows_face_reading_and_groups_in_fixed_queries(
    client, admin_user, asuka, django_assert_max_num_queries
):
    client.force_login(admin_user)
    face = make_face()
    services.face_label(face=face, idol=asuka)
    url = reverse("admin:labeling_idol_changelist")
    html = client.get(url).content.decode()
    assert f'<img src="{face.crop.url}"' in html and "さいとう あすか" in html and "乃木坂46" in html
    with django_assert_max_num_queries(20) as few:
        client.get(url)
    for i in range(10):
        services.face_label(face=make_face(), idol=make_idol(f"Idol {i}", group=make_group()))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)


# --- the API --------------------------------------------------------------------------------


@pytest.fixture
def api(idol_admin):
    client = APIClient()
    client.force_authenticate(idol_admin)
    return client


def test_api_create_answers_400_with_the_code_and_the_existing_id(api, asuka):
    response = api.post("/api/idols/", {"name": "斎藤飛鳥"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "duplicate_idol" and body["existing"] == asuka.pk
    assert body["matches"][0]["name"] == "齋藤飛鳥" and "same_name_ok" in body["hint"]
    assert "name" in body["fields"]
    response = api.post("/api/idols/", {"name": "斎藤飛鳥", "same_name_ok": True}, format="json")
    assert response.status_code == 201


def test_api_rename_onto_an_existing_name_answers_the_merge_to_make(api, asuka):
    other = make_idol("Asuka S.")
    response = api.post(f"/api/idols/{other.pk}/rename/", {"name": "さいとう あすか"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "duplicate_idol" and body["merge"] == {"idol": other.pk, "into": asuka.pk}
    response = api.post(f"/api/idols/{other.pk}/rename/", {"name": "齋藤飛鳥", "same_name_ok": True}, format="json")
    assert response.status_code == 200


# --- the labeling pages -----------------------------------------------------------------------


def create(client, **payload):
    return client.post(reverse("labeling:idol-create"), json.dumps(payload), content_type="application/json")


def test_the_pickers_create_action_refuses_and_accepts_when_asked(as_labeler, asuka):
    response = create(as_labeler, name="ｻｲﾄｳ ｱｽｶ")
    assert response.status_code == 400
    assert response.json()["error"] == "duplicate_idol" and response.json()["existing"] == asuka.pk
    response = create(as_labeler, name="齋藤飛鳥", same_name_ok=True)
    assert response.status_code == 201 and Idol.objects.filter(name="齋藤飛鳥").count() == 2


def test_the_idol_pages_rename_says_who_has_the_name(client, idol_admin, asuka):
    client.force_login(idol_admin)
    other = make_idol("Asuka S.")
    response = client.post(
        reverse("labeling:idol-rename", args=[other.pk]), {"name": "斎藤飛鳥", "reading": ""}, follow=True
    )
    html = response.content.decode()
    assert "is already an idol" in html and f'href="{reverse("labeling:idol", args=[asuka.pk])}"' in html
    assert Idol.objects.get(pk=other.pk).name == "Asuka S."
    client.post(
        reverse("labeling:idol-rename", args=[other.pk]), {"name": "斎藤飛鳥", "reading": "", "same_name_ok": "1"}
    )
    assert Idol.objects.get(pk=other.pk).name == "斎藤飛鳥"


def search(client, q: str, **params) -> dict:
    response = client.get(reverse("labeling:idol-search"), {"q": q, **params})
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(
    "query", ["ｻｲﾄｳ ｱｽｶ", "斎藤飛鳥", "齋藤 飛鳥", "さいとうあすか", "saitou asuka", "Saito Asuka"]
)
def test_the_picker_offers_no_create_for_a_name_that_folds_to_an_idol(as_labeler, asuka, query):
    answer = search(as_labeler, query)
    assert answer["create"] is False and answer["same_name"] == [asuka.pk]
    assert answer["results"][0]["id"] == asuka.pk
    assert search(as_labeler, "齋藤飛鳥さん")["create"] is True
    assert search(as_labeler, "saito")["create"] is True  # her surname alone is not her name


def test_the_picker_shows_a_graduated_namesake_instead_of_create(as_labeler, asuka):
    make_idol("齋藤ちはる")
    services.idol_soft_delete(idol=asuka)
    answer = search(as_labeler, "斎藤飛鳥")
    assert answer["create"] is False
    assert [(r["name"], r["status"]) for r in answer["results"]] == [("齋藤飛鳥", "graduated")]
    assert [r["name"] for r in search(as_labeler, "齋藤")["results"]] == ["齋藤ちはる"]  # not her name


def test_the_picker_offers_no_create_for_an_alias():
    mayu = make_idol("渡辺麻友", aliases=["まゆゆ"])
    answer = idol_picker("マユユ")
    assert not answer.create and answer.same_name == [mayu.pk] and answer.hits[0].id == mayu.pk


def test_two_namesakes_show_their_face_reading_and_group(as_labeler, asuka):
    twin = services.idol_create(
        name="齋藤飛鳥", reading="さいとう とびとり", group=make_group("欅坂46"), same_name_ok=True
    )
    face = make_face()
    services.face_label(face=face, idol=asuka)
    results = search(as_labeler, "齋藤飛鳥")["results"]
    rows = {r["id"]: r for r in results}
    assert set(rows) == {asuka.pk, twin.pk}
    assert (rows[asuka.pk]["reading"], rows[asuka.pk]["groups"]) == ("さいとう あすか", ["乃木坂46"])
    assert (rows[twin.pk]["reading"], rows[twin.pk]["groups"]) == ("さいとう とびとり", ["欅坂46"])
    assert rows[asuka.pk]["face"] == face.crop.url and rows[twin.pk]["face"] == ""


def test_the_picker_still_runs_a_fixed_number_of_queries(client, labeler, django_assert_num_queries):
    group = make_group()
    for i in range(20):
        idol = make_idol(f"Haru {i}", group=group)
        services.face_label(face=make_face(), idol=idol)
    client.force_login(labeler)
    client.get(reverse("labeling:grid"))
    search(client, "warm the idol cache")
    # session, user, user perms, group perms, the idol table's version, counts and faces
    with django_assert_num_queries(6):
        assert search(client, "haru")["create"] is True


def test_the_idol_list_shows_face_reading_and_groups(as_labeler, asuka, django_assert_max_num_queries):
    face = make_face()
    services.face_label(face=face, idol=asuka)
    html = as_labeler.get(reverse("labeling:idols")).content.decode()
    assert f'src="{face.crop.url}"' in html and "さいとう あすか" in html and "乃木坂46" in html
    with django_assert_max_num_queries(20) as few:
        as_labeler.get(reverse("labeling:idols"))
    for i in range(10):
        services.face_label(face=make_face(), idol=make_idol(f"Idol {i}", group=make_group()))
    with django_assert_max_num_queries(len(few.captured_queries)):
        as_labeler.get(reverse("labeling:idols"))


def test_the_import_command_puts_faces_under_the_idol_of_that_name(asuka, tmp_path):
    services.idol_soft_delete(idol=asuka)
    (tmp_path / "斎藤 飛鳥").mkdir()
    (tmp_path / "斎藤 飛鳥" / "1.jpg").write_bytes(image_bytes(112, 112, seed=1))
    out = io.StringIO()
    call_command("import_faces", str(tmp_path), stdout=out, stderr=io.StringIO(), verbosity=0)
    assert "(0 new idol(s))" in out.getvalue()
    assert Idol.all_objects.count() == 1 and FaceLabel.objects.get().idol_id == asuka.pk


# --- two at once ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="only PostgreSQL runs writers at the same time (SQLite: one writer at a time)",
)
def test_two_creates_of_one_name_at_once_make_one_idol():
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def run(name: str) -> None:
        try:
            barrier.wait(5)
            services.idol_create(name=name)
            outcomes.append("created")
        except DuplicateIdol:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in ["齋藤飛鳥", "斎藤飛鳥", "斉藤 飛鳥", "齋藤・飛鳥"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(outcomes) == ["created", "refused", "refused", "refused"]
    assert Idol.all_objects.count() == 1
