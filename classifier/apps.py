from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClassifierConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "classifier"
    verbose_name = _("Classifier")

    def ready(self) -> None:
        from classifier.services.clusters import on_faces_embedded as cluster_new_embeddings
        from classifier.services.retraining import on_labels_changed
        from classifier.services.suggestions import mark_labeled_faces, on_faces_detected, on_faces_embedded
        from faces.signals import faces_detected, faces_embedded
        from labeling.signals import labels_changed

        # Newly detected faces get their suggestions from the active model (on commit); faces
        # with a new vector from an embedding recognizer; new labels retrain that one at once.
        faces_detected.connect(on_faces_detected, dispatch_uid="classifier.suggest_new_faces")
        faces_embedded.connect(on_faces_embedded, dispatch_uid="classifier.suggest_embedded_faces")
        labels_changed.connect(on_labels_changed, dispatch_uid="classifier.retrain_on_labels")
        labels_changed.connect(mark_labeled_faces, dispatch_uid="classifier.mark_labeled_faces")
        # New vectors: the clusters of unknown faces are rebuilt within a minute (debounced).
        faces_embedded.connect(cluster_new_embeddings, dispatch_uid="classifier.cluster_new_embeddings")
