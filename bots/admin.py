from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from bots.answers import bot_threshold
from bots.models import BotAccount, BotQuestion

# The credentials of a bot: typed once, never shown again (the form leaves them empty; an empty
# field keeps what is stored).
CREDENTIALS = ("secret", "token")


class BotAccountForm(forms.ModelForm):
    secret = forms.CharField(
        label=_("secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("LINE: the channel secret that signs the webhooks. Leave empty to keep the one saved."),
    )
    token = forms.CharField(
        label=_("access token"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "LINE: the channel access token. Mastodon: the account's token. Leave empty to keep the one saved."
        ),
    )

    class Meta:
        model = BotAccount
        fields = [
            "name",
            "kind",
            "enabled",
            "language",
            "secret",
            "token",
            "server",
            "threshold",
            "top",
            "name_former",
            "hidden_idols",
            "daily_limit",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in CREDENTIALS:  # the stored value never goes back to the browser
            self.initial[name] = ""

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in CREDENTIALS:
            if not data.get(name):
                data[name] = getattr(self.instance, name, "") if self.instance.pk else ""
        kind, missing = data.get("kind"), []
        if kind == BotAccount.Kind.LINE:
            missing = [f for f in ("secret", "token") if not data.get(f)]
        elif kind == BotAccount.Kind.MASTODON:
            missing = [f for f in ("server", "token") if not data.get(f)]
        for name in missing:
            self.add_error(name, gettext("A %(kind)s bot needs this.") % {"kind": BotAccount.Kind(kind).label})
        return data


@admin.register(BotAccount)
class BotAccountAdmin(admin.ModelAdmin):
    form = BotAccountForm
    list_display = ["name", "kind", "enabled", "threshold_in_use", "daily_limit", "answered_today_count", "last_error"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    autocomplete_fields = ["hidden_idols"]
    readonly_fields = [
        "credentials_saved",
        "threshold_in_use",
        "since_id",
        "paused_until",
        "failures",
        "last_error",
        "last_polled_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "kind", "enabled", "language"]}),
        (_("Credentials"), {"fields": ["credentials_saved", "secret", "token", "server"]}),
        (
            _("Answers"),
            {"fields": ["threshold", "threshold_in_use", "top", "name_former", "hidden_idols", "daily_limit"]},
        ),
        (_("State"), {"fields": ["since_id", "last_polled_at", "paused_until", "failures", "last_error"]}),
    ]

    def save_model(self, request: HttpRequest, obj: BotAccount, form: forms.ModelForm, change: bool) -> None:
        # Only what the form edits: a poll running meanwhile keeps its since_id and its pause.
        if change:
            obj.save(update_fields=[name for name in BotAccountForm.Meta.fields if name != "hidden_idols"])
        else:
            obj.save()

    @admin.display(description=_("credentials saved"))
    def credentials_saved(self, bot: BotAccount) -> str:
        saved = [str(BotAccountForm.base_fields[name].label) for name in CREDENTIALS if getattr(bot, name)]
        return ", ".join(saved) or gettext("none")

    @admin.display(description=_("threshold in use"))
    def threshold_in_use(self, bot: BotAccount) -> str:
        return f"{bot_threshold(bot):.2f}" if bot.pk else "-"

    @admin.display(description=_("answered today"))
    def answered_today_count(self, bot: BotAccount) -> int:
        return bot.answered_today()


@admin.register(BotQuestion)
class BotQuestionAdmin(admin.ModelAdmin):
    list_display = ["received_at", "bot", "kind", "chat", "status", "faces", "short_answer", "latency_ms", "reply_via"]
    list_filter = ["bot", "status", "kind"]
    list_select_related = ["bot"]
    date_hierarchy = "received_at"
    search_fields = ["external_id", "image_sha256"]
    # The log is a record: nothing in it is edited; the reply address (tokens, chat ids) is not shown.
    fields = [
        "bot",
        "external_id",
        "kind",
        "chat",
        "status",
        "received_at",
        "answered_at",
        "latency_ms",
        "image_sha256",
        "faces",
        "answer_table",
        "reply_text",
        "reply_via",
        "attempts",
        "error",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: BotQuestion | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[BotQuestion]:
        return super().get_queryset(request).defer("reply_to")

    @admin.display(description=_("answer"))
    def short_answer(self, question: BotQuestion) -> str:
        return (
            (question.reply_text or question.error).splitlines()[0][:80]
            if (question.reply_text or question.error)
            else ""
        )

    @admin.display(description=_("faces and names"))
    def answer_table(self, question: BotQuestion) -> str:
        def said(face: dict[str, Any]) -> str:
            if face.get("unknown"):
                return gettext("unknown")
            return ", ".join(f"{n['name']} {round(n['probability'] * 100)}%" for n in face.get("names", []))

        return format_html_join(
            "\n", "<div>{}. {} <small>{}</small></div>", ((f["number"], said(f), f["box"]) for f in question.answer)
        )
