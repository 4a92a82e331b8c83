from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LabelingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        from labeling.roles import _post_migrate

        # After Django's own permissions are created: the role groups get theirs.
        post_migrate.connect(_post_migrate, sender=self, dispatch_uid="labeling.sync_roles")
