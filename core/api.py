"""What every API endpoint shares: the error shape and the exception handler, cursor
pagination, id fields and the schema's error responses (roles: core/permissions.py).

Every error answers the same shape, ``{"error": code, "detail": message, "fields": {field:
[messages]}}`` (a duplicate photo adds ``"existing": id``). Errors of core.errors say their own
status and code (``NotFound`` 404, ``Conflict`` 409, ...), so the handler knows no app; the
pages' JSON actions answer them the same way (``core.errors.error_answer``).
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError, error_answer, error_body

# Largest primary key the databases store (a signed 64-bit integer): larger numbers are refused
# as invalid input, never sent to the database (SQLite raises OverflowError on them).
MAX_ID = 2**63 - 1


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):  # a domain error, a detector that cannot run: each says its status
        body, status_code = error_answer(exc)
        return Response(body, status=status_code)
    if isinstance(exc, RequestDataTooBig):  # Django's own cap on a body it reads whole
        return Response(
            error_body("too_large", gettext("the request body is too large")),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, ObjectDoesNotExist | Http404):  # get_object_or_404, or a row gone meanwhile
        return Response(error_body("not_found", gettext("not found")), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, DjangoValidationError):  # a model's own validation, raised by a service
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500 page and the error log
    if isinstance(exc, exceptions.ValidationError):
        data = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = {name: _messages(msgs) for name, msgs in data.items()}
        first = next((m[0] for m in fields.values() if m), gettext("invalid input"))
        response.data = error_body("invalid", str(first), fields)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        response.data = error_body(str(code), str(exc.detail))
    return response


def _messages(value: Any) -> list[str]:
    """Messages of one field, flattened: nested serializers and lists of items give
    ``"key: message"`` strings."""
    if isinstance(value, dict):
        return [f"{key}: {m}" for key, inner in value.items() for m in _messages(inner)]
    if isinstance(value, list):
        return [m for item in value for m in _messages(item)]
    return [str(value)]


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API (for the schema)."""

    error = serializers.CharField(help_text=_("A stable code: invalid, not_found, duplicate, throttled, ..."))
    detail = serializers.CharField(help_text=_("A message for people."))
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text=_("Messages by input field.")
    )
    existing = serializers.IntegerField(required=False, help_text=_("Duplicate photo: the id of the stored one."))


# --- pagination -----------------------------------------------------------------------------


class CursorPage(CursorPagination):
    """Cursor pagination for the big lists: ``?cursor=`` from ``next``, ``?size=`` up to 500.
    A cursor is opaque; a forged or stale one answers 400."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "size"
    page_size_query_description = _("Results per page (1-500, default 50).")
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        size = request.query_params.get(self.page_size_query_param)
        if size is None:
            return self.page_size
        if not (size.isdigit() and 1 <= int(size) <= self.max_page_size):
            raise exceptions.ValidationError(
                {"size": [gettext("a whole number from 1 to %(max)s") % {"max": self.max_page_size}]}
            )
        return int(size)

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list | None:
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Request) -> Any:
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": [gettext("invalid cursor")]}) from None
        if cursor is not None and cursor.position is not None:
            field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
            try:
                value = field.to_python(cursor.position)
            except DjangoValidationError:
                raise exceptions.ValidationError({"cursor": [gettext("invalid cursor")]}) from None
            if isinstance(value, int) and not -MAX_ID <= value <= MAX_ID:
                raise exceptions.ValidationError({"cursor": [gettext("invalid cursor")]})
        return cursor


class NameCursorPage(CursorPage):
    ordering = ("name", "id")


# --- fields ---------------------------------------------------------------------------------


class IdField(serializers.PrimaryKeyRelatedField):
    """A reference to a row by id, checked to be a whole number in the database's range before
    it is looked up (a huge number is "not found", never a database error)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or (isinstance(data, str) and not data.strip().isdigit()):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            value = int(data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 1 <= value <= MAX_ID or (isinstance(data, float) and data != value):
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(value)


def object_or_404(queryset: QuerySet, pk: Any) -> Any:
    """The row with this id, or 404 (ids out of the database's range too)."""
    try:
        value = int(pk)
    except (TypeError, ValueError):
        raise exceptions.NotFound(gettext("not found")) from None
    if not 1 <= value <= MAX_ID:
        raise exceptions.NotFound(gettext("not found"))
    found = queryset.filter(pk=value).first()
    if found is None:
        raise exceptions.NotFound(
            gettext("no %(model)s with id %(id)s") % {"model": queryset.model._meta.verbose_name, "id": value}
        )
    return found


class IdLookupMixin:
    """Viewsets: ``/<id>/`` is a whole number in the database's range, else 404."""

    lookup_value_regex = "[0-9]+"

    def get_object(self) -> Any:
        obj = object_or_404(self.get_queryset(), self.kwargs[self.lookup_field])  # type: ignore[attr-defined]
        self.check_object_permissions(self.request, obj)  # type: ignore[attr-defined]
        return obj


def check_no_nul(value: Any, field: str) -> Any:
    """JSON values end in PostgreSQL's jsonb, which refuses the NUL character and unpaired
    UTF-16 surrogates anywhere (keys included)."""
    text = repr(value)
    if "\\x00" in text or "\x00" in text:
        raise serializers.ValidationError(gettext("%(field)s must not contain the NUL character") % {"field": field})
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise serializers.ValidationError(
            gettext("%(field)s must not contain unpaired surrogates") % {"field": field}
        ) from None
    return value


class IdFilter(django_filters.NumberFilter):
    """A filter by id: a whole number in the database's range (larger ones are refused as
    invalid input, never sent to the database)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class UtcDateTimeField(forms.DateTimeField):
    """A date and time, converted to UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO
    8601 text can carry, and a time near year 1 or 9999 may leave the calendar in UTC."""

    def to_python(self, value: Any) -> Any:
        result = super().to_python(value)
        if result is None:
            return None
        try:
            if result.tzinfo is None:
                result = result.replace(tzinfo=UTC)
            return result.astimezone(UTC)
        except (OverflowError, ValueError):
            raise DjangoValidationError(gettext("the date and time is out of range"), code="invalid") from None


class DateTimeFilter(django_filters.DateTimeFilter):
    field_class = UtcDateTimeField


class FlagFilter(django_filters.BooleanFilter):
    """A yes/no filter: ``1``, ``true``, ``0`` or ``false``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", django_filters.widgets.BooleanWidget)
        super().__init__(*args, **kwargs)


# --- the schema -----------------------------------------------------------------------------


class ApiSchema(AutoSchema):
    """drf-spectacular's schema, with the error shape documented on every operation: 401, 403
    and 429 everywhere; 400 where input is read; 404 on a path with an id; 409 on writes."""

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        codes = ["400", "401", "403", "429"]
        if "{" in self.path:
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes.append("409")
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return dict(sorted(responses.items()))
