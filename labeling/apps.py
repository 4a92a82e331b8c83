from django.apps import AppConfig


class LabelingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        from faces.signals import faces_redetected
        from labeling.receivers import carry_labels_over

        # Re-detecting a photo never loses labels: new faces take over their predecessors'.
        faces_redetected.connect(carry_labels_over, dispatch_uid="labeling.carry_labels_over")
