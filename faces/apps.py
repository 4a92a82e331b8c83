from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FacesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "faces"
    verbose_name = _("Photos and faces")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from faces import checks  # noqa: F401  (registers system checks)
        from faces.models import Source
        from faces.schedules import on_source_deleted, on_source_saved

        post_save.connect(on_source_saved, sender=Source, dispatch_uid="faces.source_schedule")
        post_delete.connect(on_source_deleted, sender=Source, dispatch_uid="faces.source_schedule_delete")
