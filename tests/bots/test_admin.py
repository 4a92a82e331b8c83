"""Bot accounts in the admin: credentials typed once and never shown again, the kind's required
fields, the log read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bots.admin import BotAccountForm
from bots.models import BotAccount, BotQuestion
from bots.services import question_record

pytestmark = pytest.mark.django_db

FORM = {
    "name": "idols",
    "kind": "line",
    "enabled": "on",
    "language": "ja",
    "secret": "channel-secret-123",
    "token": "channel-token-456",
    "server": "",
    "threshold": "",
    "top": "3",
    "name_former": "on",
    "daily_limit": "500",
}


def test_credentials_are_saved_and_never_shown_again(admin_client):
    response = admin_client.post(reverse("admin:bots_botaccount_add"), FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    bot = BotAccount.objects.get(name="idols")
    assert (bot.secret, bot.token) == ("channel-secret-123", "channel-token-456")
    page = admin_client.get(reverse("admin:bots_botaccount_change", args=[bot.pk])).content.decode()
    assert "channel-secret-123" not in page and "channel-token-456" not in page
    assert "threshold in use" in page.lower() or "使用中のしきい値" in page


def test_an_empty_credential_keeps_the_saved_one_and_a_new_one_replaces_it(admin_client):
    bot = BotAccount.objects.create(name="idols", kind="line", secret="old-secret", token="old-token")
    url = reverse("admin:bots_botaccount_change", args=[bot.pk])
    response = admin_client.post(url, {**FORM, "secret": "", "token": "", "daily_limit": "10"})
    assert response.status_code == 302
    bot.refresh_from_db()
    assert (bot.secret, bot.token, bot.daily_limit) == ("old-secret", "old-token", 10)
    admin_client.post(url, {**FORM, "secret": "", "token": "new-token"})
    bot.refresh_from_db()
    assert (bot.secret, bot.token) == ("old-secret", "new-token")


def test_saving_in_the_admin_keeps_the_polls_state(admin_client, monkeypatch):
    bot = BotAccount.objects.create(name="don", kind="mastodon", server="https://m.example", token="t")
    url = reverse("admin:bots_botaccount_change", args=[bot.pk])
    clean = BotAccountForm.clean

    def poll_meanwhile(form):  # a poll saves its state while the admin's request runs
        BotAccount.objects.filter(pk=bot.pk).update(since_id="999")
        return clean(form)

    monkeypatch.setattr(BotAccountForm, "clean", poll_meanwhile)
    form = {**FORM, "name": "don", "kind": "mastodon", "server": "https://m.example", "secret": "", "token": ""}
    assert admin_client.post(url, form).status_code == 302
    bot.refresh_from_db()
    assert bot.since_id == "999"


@pytest.mark.parametrize(
    ("kind", "missing"),
    [("line", ["secret", "token"]), ("mastodon", ["server", "token"])],
)
def test_each_kind_needs_its_credentials(admin_client, kind, missing):
    form = {**FORM, "kind": kind, "secret": "", "token": "", "server": ""}
    response = admin_client.post(reverse("admin:bots_botaccount_add"), form)
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == set(missing)
    assert not BotAccount.objects.exists()


def test_the_question_log_is_read_only_and_hides_the_reply_address(admin_client):
    bot = BotAccount.objects.create(name="idols", kind="line", secret="s", token="t")
    question = question_record(bot=bot, external_id="ev-1", reply_to={"replyToken": "rt-secret-777"})
    assert admin_client.get(reverse("admin:bots_botquestion_changelist")).status_code == 200
    page = admin_client.get(reverse("admin:bots_botquestion_change", args=[question.pk]))
    assert page.status_code == 200 and "rt-secret-777" not in page.content.decode()
    assert admin_client.get(reverse("admin:bots_botquestion_add")).status_code == 403
    admin_client.post(reverse("admin:bots_botquestion_change", args=[question.pk]), {"error": "x"})
    assert BotQuestion.objects.get(pk=question.pk).error == ""
