from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

import labeling.face_admin  # noqa: F401  (faces' photo admin, with the labels of each face)
from core.errors import DomainError
from faces.admin import image_tag
from faces.models import Face
from labeling import roles, services
from labeling.export_admin import export_dataset
from labeling.models import FaceLabel, Idol, IdolAlias, IdolGroup, LabelEvent, Membership
from labeling.selectors import crop_url, label_count, latest_face_crop
from labeling.services.names import describe, duplicate_message, same_name_idols
from labeling.text import fold, name_key


def apply_each(
    model_admin: admin.ModelAdmin, request: HttpRequest, rows: Iterable[Any], call: Callable[[Any], Any]
) -> int:
    """Run one service on each selected row; a row it refuses becomes a warning and the others
    go on. Returns how many it changed."""
    done = 0
    for row in rows:
        try:
            call(row)
            done += 1
        except DomainError as exc:
            model_admin.message_user(request, str(exc), messages.WARNING)
    return done


# --- faces ----------------------------------------------------------------------------------


class LabeledFilter(admin.SimpleListFilter):
    title = _("labels")
    parameter_name = "labeled"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Labeled")), ("no", _("Unlabeled")), ("several", _("Several labels"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        has_label = Exists(FaceLabel.objects.filter(face=OuterRef("pk")))
        if self.value() == "yes":
            return queryset.filter(has_label)
        if self.value() == "no":
            return queryset.filter(~has_label, excluded=False)
        if self.value() == "several":
            return queryset.annotate(n_labels=Count("labels")).filter(n_labels__gt=1)
        return queryset


class FaceLabelInline(admin.TabularInline):
    model = FaceLabel
    extra = 1
    fields = ["idol", "how", "created_by", "created_at"]
    readonly_fields = ["how", "created_by", "created_at"]
    autocomplete_fields = ["idol"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "idol":
            # Existing labels of graduated idols must stay valid; the autocomplete offers active ones.
            kwargs["queryset"] = Idol.all_objects.all()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Face)
class FaceAdmin(admin.ModelAdmin):
    list_display = ["crop_thumbnail", "id", "photo_link", "label_names", "detector", "score", "excluded", "created_at"]
    list_display_links = ["crop_thumbnail", "id"]
    list_filter = [LabeledFilter, "excluded", "exclusion_reason", "detector"]
    list_select_related = ["photo"]
    raw_id_fields = ["photo"]
    search_fields = ["=id", "labels__idol__name"]
    inlines = [FaceLabelInline]
    actions = ["exclude_not_face", "exclude_not_target", "include_again"]
    fields = [
        "crop_large",
        "photo",
        "x",
        "y",
        "w",
        "h",
        "landmarks",
        "angle",
        "detector",
        "score",
        "excluded",
        "exclusion_reason",
        "created_at",
    ]
    readonly_fields = fields  # faces come from detection: every field is shown, none edited
    list_per_page = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("labels__idol")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # faces come from detection (or from a box drawn on the photo page)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # exclude instead: the face is kept and never shown as a face again

    @admin.display(description=_("crop"))
    def crop_thumbnail(self, obj: Face) -> str:
        return image_tag(obj.crop.url, 64, gettext("face %(id)s") % {"id": obj.pk}) if obj.crop else "-"

    @admin.display(description=_("crop"))
    def crop_large(self, obj: Face) -> str:
        return image_tag(obj.crop.url, 192, gettext("face %(id)s") % {"id": obj.pk}) if obj.crop else "-"

    @admin.display(description=_("photo"), ordering="photo")
    def photo_link(self, obj: Face) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:faces_photo_change", args=[obj.photo_id]), obj.photo)

    @admin.display(description=_("labels"))
    def label_names(self, obj: Face) -> str:
        return ", ".join(label.idol.name for label in obj.labels.all()) or "-"

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not FaceLabel:
            return super().save_formset(request, form, formset, change)
        face = form.instance
        try:
            for inline_form in formset.forms:
                if not inline_form.has_changed() and not (
                    formset.can_delete and formset._should_delete_form(inline_form)
                ):
                    continue
                old = inline_form.instance if inline_form.instance.pk else None
                if old is not None and formset._should_delete_form(inline_form):
                    services.face_unlabel(face=face, idol=Idol.all_objects.get(pk=old.idol_id), user=request.user)
                    continue
                idol = inline_form.cleaned_data.get("idol")
                if idol is None:
                    continue
                if old is not None and old.idol_id != idol.pk:
                    services.face_unlabel(
                        face=face,
                        idol=Idol.all_objects.get(pk=FaceLabel.objects.get(pk=old.pk).idol_id),
                        user=request.user,
                    )
                services.face_label(face=face, idol=idol, user=request.user)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        # What the admin's change message reads; the services above did the saving.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def _exclude(self, request: HttpRequest, queryset: QuerySet, reason: str) -> None:
        done = apply_each(
            self, request, queryset, lambda face: services.face_exclude(face=face, reason=reason, user=request.user)
        )
        self.message_user(request, gettext("%(count)s face(s) excluded.") % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Exclude: not a face"))
    def exclude_not_face(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._exclude(request, queryset, Face.ExclusionReason.NOT_A_FACE)

    @admin.action(description=_("Exclude: not a target (someone else)"))
    def exclude_not_target(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._exclude(request, queryset, Face.ExclusionReason.NOT_A_TARGET)

    @admin.action(description=_("Include again"))
    def include_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = apply_each(self, request, queryset, lambda face: services.face_include(face=face, user=request.user))
        self.message_user(request, gettext("%(count)s face(s) included again.") % {"count": done}, messages.SUCCESS)


# --- idols ----------------------------------------------------------------------------------


class IdolStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("active", _("Active")), ("deleted", _("Graduated, retired or merged")), ("any", _("Any"))]

    def choices(self, changelist: Any):  # type: ignore[no-untyped-def]
        for lookup, title in self.lookup_choices:
            yield {
                "selected": (self.value() or "active") == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value() or "active"
        if value == "active":
            return queryset.filter(deleted_at__isnull=True)
        if value == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class IdolAliasInline(admin.TabularInline):
    model = IdolAlias
    extra = 0
    fields = ["name", "kind", "created_at"]
    readonly_fields = ["created_at"]


class MembershipFormSet(BaseInlineFormSet):
    """One open membership per idol and group: checked here with a message, since the
    inline's parent key is left out of the form's own constraint checks."""

    def clean(self) -> None:
        super().clean()
        open_pairs: set[tuple[int, int]] = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data or self._should_delete_form(form):
                continue
            if form.cleaned_data.get("left") is not None:
                continue
            idol = self.instance if self.fk.name == "idol" else form.cleaned_data.get("idol")
            group = self.instance if self.fk.name == "group" else form.cleaned_data.get("group")
            if idol is None or group is None or idol.pk is None or group.pk is None:
                continue
            pair = (idol.pk, group.pk)
            if pair in open_pairs:
                raise ValidationError(
                    gettext("%(idol)s can have only one open membership in %(group)s; set 'left' on the older one.")
                    % {"idol": idol, "group": group}
                )
            open_pairs.add(pair)
            others = Membership.objects.filter(idol_id=pair[0], group_id=pair[1], left__isnull=True)
            if form.instance.pk:
                others = others.exclude(pk=form.instance.pk)
            editing = {f.instance.pk for f in self.forms if f.instance.pk}
            if others.exclude(pk__in=editing).exists():
                raise ValidationError(
                    gettext("%(idol)s already has an open membership in %(group)s.") % {"idol": idol, "group": group}
                )


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    extra = 0
    autocomplete_fields = ["group"]
    fields = ["group", "joined", "left", "notes"]


def search_idols(queryset: QuerySet, term: str) -> QuerySet:
    """Every word of the term in the folded name, reading, aliases, handles or groups."""
    for word in fold(term).split():
        queryset = queryset.filter(search_text__contains=word)
    return queryset


class IdolAdminForm(forms.ModelForm):
    """Refuses a name another idol has (labeling.services.names) before anything is saved, with
    links to her and, for a rename, to the merge of the two; the service checks again when it
    saves. "Another person with the same name" lets it through."""

    class Meta:
        model = Idol
        fields = ["name", "reading", "same_name_ok", "handles", "notes"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name, reading = " ".join((data.get("name") or "").split()), " ".join((data.get("reading") or "").split())
        if not name or data.get("same_name_ok"):
            return data
        old = self.instance if self.instance.pk else None
        if old is not None and name_key(name) == old.name_key and reading == old.reading:
            return data
        matches = same_name_idols(name=name, reading=reading, exclude=old.pk if old else None)
        if old is not None and name_key(name) == old.name_key:  # only the reading changed
            before = {i.pk for i in same_name_idols(name=name, reading=old.reading, exclude=old.pk)}
            matches = [i for i in matches if i.pk not in before]
        if matches:
            raise ValidationError(self._refusal(name, matches, old))
        return data

    @staticmethod
    def _refusal(name: str, matches: list[Idol], old: Idol | None) -> str:
        links = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:labeling_idol_change", args=[i.pk]), describe(i)) for i in matches),
        )
        message = format_html("{} {}", duplicate_message(name, matches, renaming=old is not None), links)
        if old is None:
            return message
        merge = reverse("admin:labeling_idol_merge") + f"?ids={old.pk},{matches[0].pk}"
        return format_html('{} <a href="{}">{}</a>', message, merge, _("Merge them"))


@admin.register(Idol)
class IdolAdmin(admin.ModelAdmin):
    form = IdolAdminForm
    list_display = ["face", "name", "reading", "group_names", "label_count", "status", "updated_at"]
    list_display_links = ["face", "name"]
    list_filter = [IdolStatusFilter, "deletion_reason", "memberships__group"]
    search_fields = ["search_text"]  # see get_search_results: folded name, reading, alias, group, handle
    search_help_text = _("Name, reading (kana or romaji), old name or alias, group, or handle.")
    inlines = [IdolAliasInline, MembershipInline]
    actions = ["graduate", "retire", "restore", "merge", export_dataset]
    fields = [
        "name",
        "reading",
        "same_name_ok",
        "handles",
        "notes",
        "deleted_at",
        "deletion_reason",
        "merged_into",
        "face_examples",
    ]
    readonly_fields = ["deleted_at", "deletion_reason", "merged_into", "face_examples"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            Idol.all_objects.annotate(n_labels=label_count(), face_crop=latest_face_crop())
            .prefetch_related("memberships__group")
            .order_by("name", "id")
        )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if request.path.endswith("/autocomplete/"):
            queryset = queryset.filter(deleted_at__isnull=True)  # graduated idols leave the picker
        if not search_term.strip():
            return queryset, False
        return search_idols(queryset, search_term), False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # idols are never erased: graduate, retire or merge them

    @admin.display(description=_("face"))
    def face(self, obj: Idol) -> str:
        crop = getattr(obj, "face_crop", None)
        return image_tag(crop_url(crop), 40, obj.name) if crop else "-"

    @admin.display(description=_("groups"))
    def group_names(self, obj: Idol) -> str:
        return ", ".join(
            m.group.name if m.left is None else gettext("%(group)s (left)") % {"group": m.group.name}
            for m in obj.memberships.all()
        )

    @admin.display(description=_("labels"), ordering="n_labels")
    def label_count(self, obj: Idol) -> int:
        return getattr(obj, "n_labels", 0)

    @admin.display(description=_("status"))
    def status(self, obj: Idol) -> str:
        return obj.get_deletion_reason_display() if obj.is_deleted else pgettext("idol status", "active")

    @admin.display(description=_("faces"))
    def face_examples(self, obj: Idol) -> str:
        if not obj.pk:
            return "-"
        labels = FaceLabel.objects.filter(idol=obj).select_related("face").order_by("-id")[:24]
        url = reverse("admin:faces_face_changelist")
        thumbs = format_html_join(
            " ",
            '<a href="{}">{}</a>',
            ((reverse("admin:faces_face_change", args=[lb.face_id]), image_tag(lb.face.crop.url, 64)) for lb in labels),
        )
        return format_html(
            '{}<br><a href="{}?labels__idol__id__exact={}">{}</a>',
            thumbs,
            url,
            obj.pk,
            gettext("all faces of %(name)s") % {"name": obj.name},
        )

    def save_model(self, request: HttpRequest, obj: Idol, form: Any, change: bool) -> None:
        try:
            if not change:
                created = services.idol_create(
                    name=obj.name,
                    reading=obj.reading,
                    handles=obj.handles or {},
                    notes=obj.notes,
                    same_name_ok=obj.same_name_ok,
                )
                obj.pk = created.pk
                obj._state.adding = False
                return
            if "name" in form.changed_data:
                new_name = obj.name
                obj.name = form.initial["name"]
                renamed = services.idol_rename(
                    idol=obj, name=new_name, user=request.user, same_name_ok=obj.same_name_ok
                )
                obj.name = renamed.name
            services.idol_update(
                idol=obj,
                reading=obj.reading,
                handles=obj.handles or {},
                notes=obj.notes,
                same_name_ok=obj.same_name_ok,
            )
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.idol_refresh_search_text(form.instance)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return roles.can_export(request.user)

    def get_urls(self) -> list[Any]:
        merge = path("merge/", self.admin_site.admin_view(self.merge_view), name="labeling_idol_merge")
        return [merge, *super().get_urls()]

    def merge_view(self, request: HttpRequest) -> HttpResponse:
        """The merge of the idols ``?ids=1,2`` (where a refused rename links): the action's page."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            ids = request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
        else:
            ids = request.GET.get("ids", "").split(",")
        queryset = self.get_queryset(request).filter(pk__in=[int(i) for i in ids if i.isdigit()][:20])
        response = self.merge(request, queryset)
        return response or redirect("admin:labeling_idol_changelist")

    def _soft_delete(self, request: HttpRequest, queryset: QuerySet, reason: str) -> None:
        done = apply_each(
            self, request, queryset, lambda idol: services.idol_soft_delete(idol=idol, reason=reason, user=request.user)
        )
        if done:
            state = Idol.DeletionReason(reason).label.lower()
            self.message_user(
                request,
                gettext("%(count)s idol(s) marked %(state)s; their labels are kept.") % {"count": done, "state": state},
                messages.SUCCESS,
            )

    @admin.action(description=_("Graduate (leaves training and the picker; labels kept)"))
    def graduate(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._soft_delete(request, queryset, Idol.DeletionReason.GRADUATED)

    @admin.action(description=_("Retire (leaves training and the picker; labels kept)"))
    def retire(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._soft_delete(request, queryset, Idol.DeletionReason.RETIRED)

    @admin.action(description=_("Restore (back in training and the picker)"))
    def restore(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = apply_each(self, request, queryset, lambda idol: services.idol_restore(idol=idol, user=request.user))
        if done:
            self.message_user(request, gettext("%(count)s idol(s) restored.") % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Merge the selected idols into one"))
    def merge(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        idols = list(queryset.order_by("name"))
        if len(idols) < 2:
            self.message_user(request, gettext("Select at least two idols to merge."), messages.WARNING)
            return None
        keep_id = request.POST.get("keep")
        if "apply" in request.POST and keep_id:
            keep = next((i for i in idols if str(i.pk) == keep_id), None)
            if keep is None:
                self.message_user(request, gettext("Choose which idol to keep."), messages.ERROR)
                return None
            try:
                for drop in idols:
                    if drop.pk != keep.pk:
                        services.idol_merge(keep=keep, drop=drop, user=request.user)
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            self.message_user(
                request,
                gettext("Merged %(count)s idol(s) into %(name)s.") % {"count": len(idols) - 1, "name": keep.name},
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Merge idols"),
            "idols": idols,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/labeling/idol/merge.html", context)


class GroupMembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    extra = 0
    autocomplete_fields = ["idol"]
    fields = ["idol", "joined", "left", "notes"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "idol":
            kwargs["queryset"] = Idol.all_objects.all()  # former members stay listed
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(IdolGroup)
class IdolGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "reading", "member_count"]
    search_fields = ["name", "reading"]
    inlines = [GroupMembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_members=Count("memberships__idol", distinct=True))

    @admin.display(description=_("members"), ordering="n_members")
    def member_count(self, obj: IdolGroup) -> int:
        return getattr(obj, "n_members", 0)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.refresh_group_members(form.instance)


@admin.register(LabelEvent)
class LabelEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "face_link", "idol", "how", "user", "exclusion_reason", "note"]
    list_filter = ["action", "how", "user"]
    list_select_related = ["idol", "user"]
    date_hierarchy = "created_at"
    actions = ["undo"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("face"))
    def face_link(self, obj: LabelEvent) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:faces_face_change", args=[obj.face_id]),
            gettext("face %(id)s") % {"id": obj.face_id},
        )

    @admin.action(description=_("Undo these actions (each whole action they belong to)"), permissions=["view"])
    def undo(self, request: HttpRequest, queryset: QuerySet) -> None:
        for batch in dict.fromkeys(queryset.values_list("batch", flat=True)):
            try:
                services.label_batch_undo(batch=batch, user=request.user)
                self.message_user(request, gettext("Undid action %(batch)s.") % {"batch": batch}, messages.SUCCESS)
            except DomainError as exc:
                self.message_user(
                    request, gettext("Action %(batch)s: %(error)s") % {"batch": batch, "error": exc}, messages.WARNING
                )
