from django.apps import AppConfig


class FacesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "faces"
    verbose_name = "Photos and faces"

    def ready(self) -> None:
        from faces import checks  # noqa: F401  (registers system checks)
