"""Input of the labeling pages: grid filters from the query string, small forms for the photo
and idol pages. The JSON actions read their bodies with :func:`json_payload`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import RequestDataTooBig
from django.forms.utils import flatatt
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.api import MAX_ID
from core.errors import DomainError, TooLarge
from core.parsers import BadJSON, load_json
from faces.models import Face
from labeling.models import Idol
from labeling.selectors import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, STATUSES, GridFilters

# The grid's status filter, as the page shows each (the values are the selector's STATUSES).
STATUS_LABELS = {"unlabeled": _("Unlabeled"), "labeled": _("Labeled"), "excluded": _("Excluded"), "all": _("All")}


class QuickSelect(forms.Select):
    """A select of hundreds of options (the groups of thousands of idols) written in one pass:
    Django's Select renders a template per option, a good part of the grid's time."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> str:
        chosen = "" if value is None else str(value[0] if isinstance(value, list | tuple) and value else value)
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((str(key), mark_safe(" selected") if str(key) == chosen else "", label) for key, label in self.choices),
        )
        return format_html(
            '<select name="{}"{}>{}</select>', name, flatatt(self.build_attrs(self.attrs, attrs)), options
        )


class GridFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[(s, STATUS_LABELS[s]) for s in STATUSES], required=False, initial="unlabeled", label=_("Show")
    )
    idol = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)
    group = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label=_("Group"), widget=QuickSelect)
    source = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label=_("Source"), widget=QuickSelect)
    date_from = forms.DateField(required=False, label=_("Added from"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label=_("to"), widget=forms.DateInput(attrs={"type": "date"}))
    score_min = forms.FloatField(required=False, min_value=0, max_value=1, label=_("Score ≥"))
    score_max = forms.FloatField(required=False, min_value=0, max_value=1, label="≤")
    sort = forms.ChoiceField(
        choices=[
            ("newest", _("Newest")),
            ("oldest", _("Oldest")),
            ("score", _("Lowest score")),
            ("-score", _("Highest score")),
        ],
        required=False,
        initial="newest",
    )
    size = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE, widget=forms.HiddenInput)
    after = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args: Any, groups: list[tuple[int, str]], sources: list[tuple[int, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = [("", _("Any group")), *groups]
        self.fields["source"].choices = [("", _("Any source")), *sources]
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "f")
        self.fields["score_min"].widget.attrs.update(step="0.01", placeholder="0")
        self.fields["score_max"].widget.attrs.update(step="0.01", placeholder="1")

    def filters(self) -> GridFilters:
        return GridFilters.from_cleaned(self.cleaned_data)

    def page_size(self) -> int:
        return self.cleaned_data.get("size") or DEFAULT_PAGE_SIZE


class ManualFaceForm(forms.Form):
    """A box drawn on the photo page, in photo pixels."""

    x = forms.IntegerField()
    y = forms.IntegerField()
    w = forms.IntegerField()
    h = forms.IntegerField()


class ExcludeForm(forms.Form):
    reason = forms.ChoiceField(choices=Face.ExclusionReason.choices, label=_("reason"))


class RenameForm(forms.Form):
    name = forms.CharField(max_length=200, label=_("name"))
    reading = forms.CharField(max_length=200, required=False, label=_("reading"))
    same_name_ok = forms.BooleanField(required=False, label=_("Another person with the same name"))


class SoftDeleteForm(forms.Form):
    # Graduated and retired idols stay known to the recognizer; "other" (a mistake) leaves it.
    reason = forms.ChoiceField(
        choices=[
            (v, _("Other (a mistake: not recognized)") if v == Idol.DeletionReason.OTHER else label)
            for v, label in Idol.DeletionReason.choices
            if v != Idol.DeletionReason.MERGED
        ],
        label=_("reason"),
    )


class MergeForm(forms.Form):
    into = forms.IntegerField(min_value=1, max_value=MAX_ID, label=_("Merge into idol"))


class IdolCreateForm(forms.Form):
    name = forms.CharField(max_length=200, label=_("name"))
    reading = forms.CharField(max_length=200, required=False, label=_("reading"))
    same_name_ok = forms.BooleanField(required=False)  # another person with an existing idol's name


def json_payload(request: HttpRequest) -> dict[str, Any]:
    """The JSON body of an action, or a DomainError saying why it is unusable (with the API's
    limits: size, depth, unpaired surrogates)."""
    try:
        data = load_json(request.body or b"{}")
    except RequestDataTooBig:
        raise TooLarge(gettext("the request body is too large")) from None
    except BadJSON as exc:
        kind = TooLarge if exc.too_large else DomainError
        raise kind(exc.message, field=exc.field) from None
    if not isinstance(data, dict):
        raise DomainError(gettext("the request body is not a JSON object"), code="invalid")
    return data


def id_list(value: Any, what: str = "face_ids", limit: int = MAX_PAGE_SIZE) -> list[int]:
    if not isinstance(value, list) or not value or len(value) > limit:
        raise DomainError(
            gettext("%(what)s must be a list of 1 to %(limit)s ids") % {"what": what, "limit": limit},
            code="invalid",
            field=what,
        )
    try:
        ids = [int(v) for v in value]
    except (TypeError, ValueError, OverflowError):
        raise DomainError(
            gettext("%(what)s must be whole numbers") % {"what": what}, code="invalid", field=what
        ) from None
    if not all(1 <= v <= MAX_ID for v in ids):
        raise DomainError(
            gettext("%(what)s must be ids from 1 to %(max)s") % {"what": what, "max": MAX_ID},
            code="invalid",
            field=what,
        )
    return ids


def one_id(value: Any, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise DomainError(
            gettext("%(what)s must be a whole number") % {"what": what}, code="invalid", field=what
        ) from None
    if not 1 <= number <= MAX_ID:
        raise DomainError(
            gettext("%(what)s must be an id from 1 to %(max)s") % {"what": what, "max": MAX_ID},
            code="invalid",
            field=what,
        )
    return number


class ExportForm(forms.Form):
    """The admin's dataset export of the selected idols (labeling.services.export_request)."""

    format = forms.ChoiceField(
        label=_("format"),
        choices=[
            ("imagefolder", _("ImageFolder: a folder of crops per idol and manifest.csv")),
            ("tfrecord", _("TFRecord: sharded tf.train.Example records and labels.txt")),
            ("coco", _("COCO: the original photos' boxes and labels in annotations.json")),
        ],
    )
    min_faces = forms.IntegerField(
        label=_("minimum faces"), min_value=1, initial=1, help_text=_("Idols with fewer faces are left out.")
    )
    split = forms.FloatField(
        label=_("training fraction"),
        required=False,
        help_text=_(
            "E.g. 0.8: each idol's faces are split into training and validation. Empty: no split (COCO has none)."
        ),
    )
    seed = forms.IntegerField(
        label=_("seed"), min_value=0, max_value=2**31 - 1, initial=0, help_text=_("The same seed gives the same split.")
    )
