from django.apps import AppConfig


class ClassifierConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "classifier"
    verbose_name = "Classifier"

    def ready(self) -> None:
        from classifier.services.clusters import on_faces_embedded
        from classifier.services.suggestions import on_faces_detected
        from faces.signals import faces_detected, faces_embedded

        # Newly detected faces get their suggestions from the active model (on commit).
        faces_detected.connect(on_faces_detected, dispatch_uid="classifier.suggest_new_faces")
        # New vectors: the clusters of unknown faces are rebuilt within a minute (debounced).
        faces_embedded.connect(on_faces_embedded, dispatch_uid="classifier.cluster_new_embeddings")
