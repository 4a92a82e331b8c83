"""JSON request bodies read with limits, for the API (``JSONParser``, REST_FRAMEWORK's parser)
and the labeling pages' JSON actions (``load_json``).

Python's parser recurses once per nesting level, so a deep body is a RecursionError; the
depth is counted first, without recursion. Unpaired UTF-16 surrogates (``"\\ud800"``) decode
to strings no database or encoder accepts: refused here, naming the field. The body's size is
capped at DATA_UPLOAD_MAX_MEMORY_SIZE, as Django caps form bodies.
"""

from __future__ import annotations

import codecs
import json
import re
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, parsers, status

MAX_JSON_DEPTH = 64

# A JSON string (escapes included), and anything that is not a bracket.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# \ud800-\udfff written as an escape: the only way a surrogate gets into parsed JSON text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class BadJSON(ValueError):
    """A body that is not usable JSON: ``field`` names the top-level field at fault, if any;
    ``too_large`` when the body is over the size limit."""

    def __init__(self, message: str, *, field: str | None = None, too_large: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.too_large = too_large


def max_body_bytes() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 10 * 1024 * 1024


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings do not count)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _surrogate_field(data: Any) -> str | None:
    """The top-level field holding a string (or key) with an unpaired surrogate, "" for the
    body itself or a key of it, None when there is none."""
    for field, value in data.items() if isinstance(data, dict) else [("", data)]:
        if _SURROGATE.search(field):
            return ""
        stack = [value]
        while stack:
            value = stack.pop()
            if isinstance(value, str):
                if _SURROGATE.search(value):
                    return field
            elif isinstance(value, dict):
                if any(_SURROGATE.search(key) for key in value):
                    return field
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
    return None


def load_json(text: str | bytes) -> Any:
    """Parse a request body, or raise BadJSON saying why it is refused."""
    if len(text) > max_body_bytes():
        raise BadJSON(
            _("the request body is larger than %(limit)d bytes") % {"limit": max_body_bytes()}, too_large=True
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise BadJSON(_("the request body is not UTF-8")) from None
    if nesting_depth(text) > MAX_JSON_DEPTH:
        raise BadJSON(_("the JSON nests deeper than %(limit)d levels") % {"limit": MAX_JSON_DEPTH})
    try:
        data = json.loads(text)
    except RecursionError:  # not reached after the depth check; kept as a last guard
        raise BadJSON(_("the JSON nests too deep")) from None
    except ValueError as exc:
        raise BadJSON(_("the request body is not valid JSON: %(error)s") % {"error": exc}) from None
    if _SURROGATE_ESCAPE.search(text):
        field = _surrogate_field(data)
        if field is not None:
            raise BadJSON(_("text must not contain unpaired UTF-16 surrogates (\\ud800-\\udfff)"), field=field or None)
    return data


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = gettext_lazy("the request body is too large")
    default_code = "too_large"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the limits of ``load_json``: a body too large answers 413, too
    deep or with unpaired surrogates 400 (naming the field), in the API's error shape."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        limit = max_body_bytes()
        raw = stream.read(limit + 1) if stream is not None else b""
        try:
            text = codecs.decode(raw, encoding) if len(raw) <= limit else raw
        except (UnicodeDecodeError, LookupError):
            raise exceptions.ParseError(
                _("the request body is not %(encoding)s text") % {"encoding": encoding}
            ) from None
        try:
            return load_json(text)
        except BadJSON as exc:
            if exc.too_large:
                raise PayloadTooLarge(exc.message) from None
            if exc.field:
                raise exceptions.ValidationError({exc.field: [exc.message]}) from None
            raise exceptions.ParseError(exc.message) from None
