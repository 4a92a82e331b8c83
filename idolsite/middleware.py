"""Request handling every page shares."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.translation import gettext

from core.api import error_body

log = logging.getLogger(__name__)


class NumberOutOfRangeMiddleware:
    """A number too large for the database (SQLite raises OverflowError on integers past 64
    bits) that reached a query no form checked, such as an admin list's ``?idol=`` filter, is
    the request's fault: a 400, not a server error. Caught while the response renders too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OverflowError):
            return None
        log.warning("400 for %s: a number out of range (%s)", request.path, exception)
        detail = gettext("a number in the request is out of range")
        if request.path.startswith("/api/"):
            return JsonResponse(error_body("invalid", detail), status=400)
        return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")
