from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from classifier import services
from classifier.ml.evaluation import IMAGES
from classifier.models import FaceCluster, ModelVersion, Suggestion, SuggestionRejection, TrainingRun
from classifier.services.modelfiles import model_file_names
from core.errors import DomainError


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "status",
        "progress_bar",
        "top1",
        "n_train",
        "n_validation",
        "n_classes",
        "reason",
        "created_at",
    ]
    list_filter = ["status"]
    list_select_related = ["requested_by"]
    actions = ["cancel", "train_now", "train_network_now"]
    readonly_fields = [
        "status",
        "progress_bar",
        "evaluation_link",
        "reason",
        "requested_by",
        "options",
        "cancel_requested",
        "phase",
        "epoch",
        "epochs",
        "step",
        "steps",
        "loss",
        "val_accuracy",
        "eta_seconds",
        "heartbeat_at",
        "fingerprint",
        "n_train",
        "n_validation",
        "n_classes",
        "note",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    ]
    exclude = ["metrics", "history"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("progress"))
    def progress_bar(self, run: TrainingRun) -> str:
        return render_to_string("classifier/_progress.html", {"run": run})

    @admin.display(description=_("top-1"))
    def top1(self, run: TrainingRun) -> str:
        value = (run.metrics or {}).get("top1")
        return "—" if value is None else f"{value:.3f}"

    @admin.display(description=_("evaluation"))
    def evaluation_link(self, run: TrainingRun) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("classifier:run_detail", args=[run.pk]), gettext("evaluation page")
        )

    @admin.action(description=_("Cancel the selected runs"))
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        for run in queryset:
            try:
                services.training_cancel(run=run, user=request.user)
            except DomainError as exc:
                self.message_user(request, str(exc), messages.WARNING)

    @admin.action(description=_("Train a new model now (one at a time)"))
    def train_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        run = services.training_request(reason="admin", user=request.user, force=True)
        self.message_user(request, gettext("%(run)s queued.") % {"run": run}, messages.SUCCESS)
        self._warn_if_importing(request)

    @admin.action(description=_("Train the network from pixels now (slow; compared with the embedding recognizer)"))
    def train_network_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        run = services.training_request(reason="admin", user=request.user, force=True, recognizer="network")
        self.message_user(request, gettext("%(run)s queued on the training cluster.") % {"run": run}, messages.SUCCESS)
        self._warn_if_importing(request)

    def _warn_if_importing(self, request: HttpRequest) -> None:
        """A training started by hand does not wait for the import, but says what it misses."""
        from classifier.services.retraining import training_wait

        wait = training_wait(first=False)
        if wait:
            self.message_user(
                request,
                gettext("Still importing: this training will not see the newest photos (%(reasons)s).")
                % {"reasons": "; ".join(wait.reasons())},
                messages.WARNING,
            )


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "val_top1", "is_active", "pinned", "set_aside", "n_classes", "run_link", "created_at"]
    list_filter = ["is_active", "pinned", "set_aside"]
    list_select_related = ["run"]
    actions = ["activate_and_pin", "unpin"]
    readonly_fields = [
        "directory",
        "format_version",
        "class_idol_ids",
        "input_size",
        "fingerprint",
        "metrics",
        "val_top1",
        "is_active",
        "pinned",
        "set_aside",
        "run_link",
        "created_at",
        "images",
    ]
    exclude = ["run"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("classes"))
    def n_classes(self, version: ModelVersion) -> int:
        return len(version.class_idol_ids or [])

    @admin.display(description=_("run"))
    def run_link(self, version: ModelVersion) -> str:
        if version.run_id is None:
            return "—"
        return format_html(
            '<a href="{}">#{}</a>', reverse("classifier:run_detail", args=[version.run_id]), version.run_id
        )

    @admin.display(description=_("evaluation"))
    def images(self, version: ModelVersion) -> str:
        """The pictures saved beside the model (the confusion matrix only for a few classes)."""
        stored = model_file_names(version)
        names = [name for name in IMAGES if name in stored]
        if not names:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            '<img src="{}" style="max-width:640px" alt="{}">',
            ((reverse("classifier:version_image", args=[version.pk, name]), name) for name in names),
        )

    @admin.action(description=_("Activate and pin (new models will not replace it)"))
    def activate_and_pin(self, request: HttpRequest, queryset: QuerySet) -> None:
        if queryset.count() != 1:
            self.message_user(request, gettext("Choose exactly one model to activate."), messages.ERROR)
            return
        try:
            version = services.model_version_activate(version=queryset.get(), pin=True, user=request.user)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, gettext("%(model)s is active and pinned.") % {"model": version}, messages.SUCCESS)

    @admin.action(description=_("Unpin (a better new model may replace it)"))
    def unpin(self, request: HttpRequest, queryset: QuerySet) -> None:
        for version in queryset:
            services.model_version_unpin(version=version, user=request.user)

    def delete_model(self, request: HttpRequest, obj: ModelVersion) -> None:
        try:
            services.model_version_delete(version=obj, user=request.user)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for version in queryset:
            self.delete_model(request, version)


# --- active learning: read-mostly views of what the review pages write ---------------------


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    list_display = ["face", "model_version", "idol", "probability", "margin", "unknown", "status", "reviewed_at"]
    list_filter = ["status", "unknown", "model_version"]
    list_select_related = ["idol", "model_version"]
    raw_id_fields = ["face", "model_version", "idol", "reviewed_by"]
    exclude = ["embedding"]


@admin.register(SuggestionRejection)
class SuggestionRejectionAdmin(admin.ModelAdmin):
    list_display = ["face", "idol", "user", "model_version", "probability", "created_at"]
    list_select_related = ["idol", "user"]
    raw_id_fields = ["face", "idol", "user", "model_version"]


@admin.register(FaceCluster)
class FaceClusterAdmin(admin.ModelAdmin):
    list_display = ["id", "model_version", "spread", "named_idol", "named_at", "created_at"]
    list_select_related = ["named_idol"]
    raw_id_fields = ["model_version", "parent", "named_idol"]
