from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BotsConfig(AppConfig):
    name = "bots"
    verbose_name = _("Bots")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from bots.models import BotAccount
        from bots.schedules import on_bot_deleted, on_bot_saved

        post_save.connect(on_bot_saved, sender=BotAccount, dispatch_uid="bots.mastodon_schedule")
        post_delete.connect(on_bot_deleted, sender=BotAccount, dispatch_uid="bots.mastodon_schedule_delete")
