"""A browser that asks for Japanese gets the pages, and the scripts' words, in Japanese."""

from __future__ import annotations

import pytest
from django.urls import reverse

from classifier.models import TrainingRun
from labeling.roles import assign_role
from tests.factories import make_face, make_idol

pytestmark = pytest.mark.django_db

JA = {"HTTP_ACCEPT_LANGUAGE": "ja"}


@pytest.fixture
def labeler_client(client, django_user_model):
    user = django_user_model.objects.create_user(username="hana", password="pw-hana-123")
    assign_role(user, "labeler")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("name", "japanese"),
    [
        ("labeling:grid", "すべてのアイドル"),
        ("labeling:idols", "すべて（統合済みも）"),
        ("home", "実行中と待機中"),
        ("classifier:review", "候補の確認"),
        ("classifier:clusters", "同一人物の可能性"),
        ("labeling:activity", "全員"),
    ],
)
def test_pages_speak_japanese_to_a_japanese_browser(labeler_client, name, japanese):
    make_idol("齋藤 飛鳥", reading="さいとう あすか")
    make_face()
    text = labeler_client.get(reverse(name), **JA).content.decode()
    assert '<html lang="ja">' in text
    assert japanese in text
    assert "ログアウト" in text and "Sign out" not in text  # the header too


def test_login_page_speaks_japanese(client):
    text = client.get(reverse("labeling:login"), **JA).content.decode()
    assert '<html lang="ja">' in text and "ユーザー名" in text and "パスワード" in text
    assert "Username" not in text


def test_run_page_speaks_japanese(labeler_client):
    run = TrainingRun.objects.create(status="succeeded", metrics={}, n_train=1234, n_validation=56)
    text = labeler_client.get(reverse("classifier:run_detail", args=[run.pk]), **JA).content.decode()
    assert '<html lang="ja"' in text
    assert ">学習</a>" in text and "学習用の顔 1,234 件" in text and "見つかりません" not in text


def test_same_pages_stay_english_for_an_english_browser(labeler_client):
    text = labeler_client.get(reverse("labeling:grid"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en">' in text and "Any idol" in text and "すべてのアイドル" not in text


def test_javascript_catalog_holds_the_scripts_japanese(client):
    text = client.get(reverse("javascript-catalog"), **JA).content.decode()
    assert "\\u5143\\u306b\\u623b\\u3057\\u307e\\u3057\\u305f" in text or "元に戻しました" in text  # "Undone."
    assert "Pick mode off." in text  # the review page's words come in the same catalog
