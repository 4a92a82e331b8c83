from django.apps import AppConfig


class ClassifierConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "classifier"
    verbose_name = "Classifier"

    def ready(self) -> None:
        from classifier.services.suggestions import on_faces_detected
        from faces.signals import faces_detected

        # Newly detected faces get their suggestions from the active model (on commit).
        faces_detected.connect(on_faces_detected, dispatch_uid="classifier.suggest_new_faces")
