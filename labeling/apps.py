from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class LabelingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "labeling"
    verbose_name = _("Labeling")

    def ready(self) -> None:
        from faces.signals import faces_redetected, faces_to_keep
        from labeling.receivers import carry_labels_over, keep_labeled_faces
        from labeling.roles import _post_migrate

        # Re-detecting a photo never loses labels: new faces take over their predecessors'.
        faces_redetected.connect(carry_labels_over, dispatch_uid="labeling.carry_labels_over")
        faces_to_keep.connect(keep_labeled_faces, dispatch_uid="labeling.keep_labeled_faces")

        # The grid's count of unlabeled faces, kept in the cache, follows every label event.
        from labeling.receivers import keep_unlabeled_total
        from labeling.signals import labels_changed

        labels_changed.connect(keep_unlabeled_total, dispatch_uid="labeling.keep_unlabeled_total")

        # After Django's own permissions are created: the role groups get theirs.
        post_migrate.connect(_post_migrate, sender=self, dispatch_uid="labeling.sync_roles")

        # API tokens are knox's hashed ones (DRF's plain tokens stay installed only for the
        # migration that hashed them): a plain token made in the admin would sign in nobody.
        from django.contrib import admin
        from rest_framework.authtoken.models import TokenProxy

        if admin.site.is_registered(TokenProxy):
            admin.site.unregister(TokenProxy)
