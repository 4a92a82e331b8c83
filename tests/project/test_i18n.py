"""Japanese first: a browser that asks for nothing gets Japanese, one that asks for English gets
English, and the header's switch (a cookie) outranks the browser; the admin follows."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

import idolsite.settings as project_settings

pytestmark = pytest.mark.django_db


def lang(response) -> str:
    return re.search(rb'<html lang="([^"]+)"', response.content).group(1).decode()


@pytest.fixture
def japanese_default(settings):
    settings.LANGUAGE_CODE = project_settings.LANGUAGE_CODE


def test_the_product_speaks_japanese_unless_asked_otherwise():
    assert project_settings.LANGUAGE_CODE == "ja"
    assert [code for code, _ in settings.LANGUAGES] == ["ja", "en"]
    assert "django.middleware.locale.LocaleMiddleware" in settings.MIDDLEWARE


def test_the_browsers_language_decides(client, japanese_default):
    login = reverse("labeling:login")
    assert lang(client.get(login)) == "ja"  # no Accept-Language: the default
    assert lang(client.get(login, HTTP_ACCEPT_LANGUAGE="ja-JP,ja;q=0.9")) == "ja"
    english = client.get(login, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert lang(english) == "en" and b">Sign in<" in english.content
    assert lang(client.get(login, HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")) == "ja"  # neither: the default


def test_the_switch_outranks_the_browser_and_returns_to_the_page(client, japanese_default):
    login = reverse("labeling:login")
    response = client.post(reverse("set_language"), {"language": "en", "next": login}, HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 302 and response["Location"] == login
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert lang(client.get(login, HTTP_ACCEPT_LANGUAGE="ja")) == "en"
    client.post(reverse("set_language"), {"language": "ja", "next": login})
    assert lang(client.get(login, HTTP_ACCEPT_LANGUAGE="en")) == "ja"
    # A language the site does not speak, or a next page elsewhere, changes nothing harmful.
    response = client.post(reverse("set_language"), {"language": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302 and not response["Location"].startswith("https://evil")
    assert lang(client.get(login)) == "ja"


def test_the_switch_offers_the_other_language_in_its_own_words(client, japanese_default):
    japanese = client.get(reverse("labeling:login")).content.decode()
    assert 'value="en"' in japanese and ">English<" in japanese
    english = client.get(reverse("labeling:login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'value="ja"' in english and ">日本語<" in english


def test_the_admin_follows(admin_client, japanese_default):
    response = admin_client.get(reverse("admin:index"))
    with translation.override("ja"):
        assert translation.gettext("Log out") in response.content.decode()
        assert translation.gettext("Photos, faces and labels") in response.content.decode()
    assert lang(response) == "ja"
    assert "Log out" in admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_script_catalog_answers_in_the_pages_language(client, japanese_default):
    japanese = client.get(reverse("javascript-catalog"))
    assert japanese.status_code == 200 and b"django.catalog" in japanese.content
    english = client.get(reverse("javascript-catalog"), HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 200 and len(english.content) < len(japanese.content)


def test_dates_read_the_japanese_way():
    from datetime import date

    from django.utils.formats import date_format, number_format

    with translation.override("ja"):
        assert date_format(date(2026, 12, 3)) == "2026年12月3日"
    with translation.override("en"):
        assert date_format(date(2026, 12, 3)) == "Dec. 3, 2026"
        assert number_format(1234567, force_grouping=True) == "1,234,567"
