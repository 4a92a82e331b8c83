from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from faces import services
from faces.models import Face, Photo, PhotoSighting, PhotoTombstone, Source


def image_tag(url: str, size: int, alt: str = "") -> str:
    return format_html(
        '<img src="{}" alt="{}" loading="lazy" style="max-width:{}px;max-height:{}px;border-radius:3px">',
        url,
        alt,
        size,
        size,
    )


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "locator",
        "enabled",
        "poll_interval_minutes",
        "last_run_at",
        "seen_count",
        "new_count",
        "duplicate_count",
        "failed_count",
        "short_error",
    ]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "locator"]
    readonly_fields = [
        "last_run_at",
        "last_success_at",
        "last_error",
        "seen_count",
        "new_count",
        "duplicate_count",
        "failed_count",
        "created_at",
        "updated_at",
    ]

    @admin.action(description=_("Crawl now (in the task queue)"))
    def crawl_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        from django_q.tasks import async_task

        for source in queryset:
            async_task("faces.tasks.crawl_source", source.pk, task_name=f"crawl {source.name}"[:100])
        count = queryset.count()
        self.message_user(
            request,
            ngettext("%(count)d source queued for crawling.", "%(count)d sources queued for crawling.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.display(description=_("last error"))
    def short_error(self, obj: Source) -> str:
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error


class TrashFilter(admin.SimpleListFilter):
    title = _("trash")
    parameter_name = "trash"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("kept", gettext("Not trashed")), ("trashed", gettext("Trashed")), ("any", gettext("Any"))]

    def choices(self, changelist: Any):  # type: ignore[no-untyped-def]
        # Default to "Not trashed" rather than Django's "All": trashed photos are one click away.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": (self.value() or "kept") == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value() or "kept"
        if value == "kept":
            return queryset.filter(trashed_at__isnull=True)
        if value == "trashed":
            return queryset.filter(trashed_at__isnull=False)
        return queryset


class FaceInline(admin.TabularInline):
    """A photo's faces. Apps built on faces add their columns in a subclass (labeling.face_admin)."""

    model = Face
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["crop_thumbnail", "box_text", "detector", "score", "angle", "excluded", "exclusion_reason"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("crop"))
    def crop_thumbnail(self, obj: Face) -> str:
        return image_tag(obj.crop.url, 64, gettext("face %(id)s") % {"id": obj.pk}) if obj.crop else "-"

    @admin.display(description=_("box (x, y, w, h)"))
    def box_text(self, obj: Face) -> str:
        return ", ".join(str(v) for v in obj.box)


class SightingInline(admin.TabularInline):
    model = PhotoSighting
    extra = 0
    can_delete = False
    verbose_name_plural = _("also seen at (reposts and repeats)")
    fields = ["source", "source_item_id", "source_url", "how", "seen_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    list_display = ["thumb", "__str__", "status", "face_count", "source", "width", "height", "created_at", "trashed_at"]
    list_display_links = ["thumb", "__str__"]
    list_filter = [TrashFilter, "status", "source", "detector"]
    list_select_related = ["source"]
    search_fields = ["original_name", "source_url", "caption", "author", "=sha256"]
    date_hierarchy = "created_at"
    inlines = [FaceInline, SightingInline]
    actions = ["detect_again", "trash_photos", "restore_photos"]
    fields = [
        "preview",
        "original_name",
        "source",
        "source_url",
        "source_item_id",
        "author",
        "caption",
        "posted_at",
        "status",
        "error",
        "detector",
        "detection_info",
        "detected_at",
        "sha256",
        "phash",
        "width",
        "height",
        "format",
        "file_size",
        "created_at",
        "updated_at",
        "trashed_at",
        "trashed_by",
    ]
    readonly_fields = [
        "preview",
        "source",
        "source_url",
        "source_item_id",
        "status",
        "error",
        "detector",
        "detection_info",
        "detected_at",
        "sha256",
        "phash",
        "width",
        "height",
        "format",
        "file_size",
        "created_at",
        "updated_at",
        "trashed_at",
        "trashed_by",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The trash filter decides; the default manager would hide trashed photos for good.
        return Photo.all_objects.annotate(n_faces=Count("faces")).select_related("source")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # photos come in through import, upload and crawling, which check them

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # trash instead: a trashed photo leaves a tombstone and can be restored

    @admin.display(description=_("photo"))
    def thumb(self, obj: Photo) -> str:
        return image_tag(obj.thumbnail.url, 96, str(obj)) if obj.thumbnail else "-"

    @admin.display(description=_("faces"), ordering="n_faces")
    def face_count(self, obj: Photo) -> int:
        return getattr(obj, "n_faces", 0)

    @admin.display(description=_("photo"))
    def preview(self, obj: Photo) -> str:
        """The photo with each face's box (green, red when excluded), its eye landmarks, and its
        score, angle and detector on hover and under the box."""
        if not obj.pk or not obj.image:
            return "-"
        stroke = max(2, max(obj.width, obj.height) // 400)
        font = max(10, max(obj.width, obj.height) // 50)
        shapes = []
        for f in obj.faces.all():
            colour = "#e33" if f.excluded else "#2d2"
            title = gettext("face %(id)s: %(detector)s, score %(score).3f, angle %(angle)+.1f°") % {
                "id": f.pk,
                "detector": f.detector,
                "score": f.score,
                "angle": f.angle,
            }
            shapes.append(
                format_html(
                    '<g><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="{}" '
                    'stroke-width="{}"></rect><text x="{}" y="{}" fill="{}" font-size="{}" font-family="sans-serif" '
                    'paint-order="stroke" stroke="#000" stroke-width="{}">{}</text>{}</g>',
                    title,
                    f.x,
                    f.y,
                    f.w,
                    f.h,
                    colour,
                    stroke,
                    f.x,
                    f.y + f.h + font,
                    colour,
                    font,
                    max(1, font // 6),
                    f"{f.score:.2f} {f.angle:+.0f}°",
                    format_html_join(
                        "",
                        '<circle cx="{}" cy="{}" r="{}" fill="{}"></circle>',
                        (
                            (point[0], point[1], stroke, colour)
                            for name, point in (f.landmarks or {}).items()
                            if name.endswith("eye") and isinstance(point, list | tuple) and len(point) == 2
                        ),
                    ),
                )
            )
        return format_html(
            '<div style="position:relative;display:inline-block;max-width:900px">'
            '<img src="{}" style="display:block;max-width:900px;width:100%">'
            '<svg viewBox="0 0 {} {}" preserveAspectRatio="none" '
            'style="position:absolute;left:0;top:0;width:100%;height:100%">{}</svg></div>',
            obj.image.url,
            obj.width,
            obj.height,
            format_html_join("", "{}", ((shape,) for shape in shapes)),
        )

    @admin.action(description=_("Detect faces again"))
    def detect_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.filter(trashed_at__isnull=True).values_list("pk", flat=True))
        for photo_id in ids:
            transaction.on_commit(
                lambda photo_id=photo_id: services.enqueue_detection(photo_id=photo_id, redetect=True)
            )
        self.message_user(
            request,
            ngettext("%(count)d photo queued for detection.", "%(count)d photos queued for detection.", len(ids))
            % {"count": len(ids)},
            messages.SUCCESS,
        )

    @admin.action(description=_("Move to the trash (keeps a tombstone; can be restored)"))
    def trash_photos(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(
            request,
            queryset,
            services.photo_trash,
            lambda n: ngettext("%(count)d photo trashed.", "%(count)d photos trashed.", n) % {"count": n},
        )

    @admin.action(description=_("Restore from the trash"))
    def restore_photos(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(
            request,
            queryset,
            services.photo_restore,
            lambda n: ngettext("%(count)d photo restored.", "%(count)d photos restored.", n) % {"count": n},
        )

    def _apply(
        self, request: HttpRequest, queryset: QuerySet, service: Any, done_message: Callable[[int], str]
    ) -> None:
        done = 0
        for photo in queryset:
            try:
                service(photo=photo, user=request.user)
                done += 1
            except DomainError as exc:
                self.message_user(request, str(exc), messages.WARNING)
        if done:
            self.message_user(request, done_message(done), messages.SUCCESS)


@admin.register(PhotoTombstone)
class PhotoTombstoneAdmin(admin.ModelAdmin):
    list_display = ["sha256", "source_url", "trashed_at", "photo_link"]
    search_fields = ["=sha256", "source_url"]
    readonly_fields = ["sha256", "phash", "source_url", "source", "source_item_id", "photo", "trashed_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("photo"))
    def photo_link(self, obj: PhotoTombstone) -> str:
        if obj.photo_id is None:
            return gettext("purged")
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:faces_photo_change", args=[obj.photo_id]),
            gettext("photo %(id)s") % {"id": obj.photo_id},
        )
