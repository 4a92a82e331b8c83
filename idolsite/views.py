"""The project's answers to requests no view handled (Django's handler400/403/404/500, named
in idolsite/urls.py): the API's error shape under ``/api/``, pages elsewhere. They live in the
project package because the 403 page asks labeling for the user's role."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.translation import gettext

from core.api import error_body
from labeling.roles import role_of
from labeling.views.common import role_context


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> Any:
    """Django's 404 (``handler404``): the API's error shape under ``/api/``, the site's page
    elsewhere."""
    if request.path.startswith("/api/"):
        return api_not_found()
    return not_found_page(request)


def api_not_found() -> JsonResponse:
    return JsonResponse(error_body("not_found", gettext("no such endpoint or object")), status=404)


def not_found_page(request: HttpRequest) -> HttpResponse:
    """The site's 404 page, in its layout and the reader's language (also in DEBUG, for a
    missing photo or face: ``idolsite.middleware.SiteErrorsMiddleware``)."""
    user = getattr(request, "user", None)
    context = role_context(request) if user is not None else {}
    return render(request, "404.html", context, status=404)


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, which browsers ask for by themselves: the site's icon."""
    response = HttpResponseRedirect(static("labeling/favicon.svg"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


def permission_denied_view(request: HttpRequest, exception: Exception | None = None) -> Any:
    """A page a signed-in user may not open (``handler403``): under ``/api/`` the API's error
    shape; elsewhere a page that says whether the account has no role at all (ask an admin for
    one) or a role too weak for this. Never a redirect, so a user without a role is not sent
    around between the sign-in page and the grid."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("permission_denied", gettext("your role does not allow this")), status=403)
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    context = {"signed_in": signed_in, "role": role_of(user) if signed_in else None}
    return render(request, "403.html", context, status=403)


def bad_request_view(request: HttpRequest, exception: Exception | None = None) -> Any:
    """Django's 400 for requests refused before a view ran (``handler400``: a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE, a bad host): the API's error shape under ``/api/``."""
    if request.path.startswith("/api/"):
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(error_body("too_large", str(exception)), status=413)
        return JsonResponse(error_body("bad_request", gettext("the request was refused")), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def server_error_view(request: HttpRequest) -> Any:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", gettext("the server failed; the error is logged")), status=500)
    from django.views.defaults import server_error

    return server_error(request)
