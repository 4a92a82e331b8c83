"""Request handling every page shares."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
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


# The API's code for each status an error answer without a body of ours may have.
_API_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


class SiteErrorsMiddleware:
    """The site's own error answers in DEBUG as well as in production, where Django's handlers
    (idolsite/urls.py) give them: under ``/api/`` every error is the API's JSON shape (a URL no
    view matches, a method a view refuses, a server error), never Django's HTML debug page;
    elsewhere a photo, face or idol that is missing (``Http404`` from a view) gets the site's
    404 page. A URL no view matches keeps Django's debug page in DEBUG (it lists the URLs)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/") and response.status_code >= 400 and not _is_json(response):
            return _as_api_error(response)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from idolsite.views import api_not_found, not_found_page

        if not settings.DEBUG:
            return None  # Django's handlers answer alike, and log and report the error
        if isinstance(exception, Http404):
            return api_not_found() if request.path.startswith("/api/") else not_found_page(request)
        if not request.path.startswith("/api/") or isinstance(
            exception, PermissionDenied | BadRequest | SuspiciousOperation | MultiPartParserError
        ):
            return None  # pages: Django's debug page; refusals: the project's handlers
        logging.getLogger("django.request").error(
            "Internal Server Error: %s", request.path, exc_info=exception, extra={"status_code": 500}
        )
        return JsonResponse(error_body("server_error", gettext("the server failed; the error is logged")), status=500)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _as_api_error(response: HttpResponse) -> HttpResponse:
    """An error answered in HTML or with no body (Django's debug 404 page, a bare 405) in the
    API's shape, keeping its status and headers such as ``Allow``."""
    status = response.status_code
    if status == 404:
        detail = gettext("no such endpoint or object")
    elif status == 405:
        detail = gettext("method not allowed (allowed: %(methods)s)") % {"methods": response.get("Allow", "—")}
    elif status >= 500:
        detail = gettext("the server failed; the error is logged")
    else:
        detail = gettext("the request was refused")
    code = _API_CODES.get(status, "server_error" if status >= 500 else "error")
    answer = JsonResponse(error_body(code, detail), status=status)
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in response:
            answer[header] = response[header]
    return answer
