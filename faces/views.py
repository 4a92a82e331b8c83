from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from django.views.static import serve
from knox.auth import TokenAuthentication
from rest_framework import exceptions
from rest_framework.authentication import get_authorization_header


@require_GET
def media(request: HttpRequest, path: str) -> HttpResponse:
    """Photos and crops show people: only signed-in users see them, by session (the pages) or
    by ``Authorization: Token <key>`` (API clients following a crop or image URL).

    ``serve`` refuses paths that leave MEDIA_ROOT and answers conditional requests. Behind a
    reverse proxy, point it at MEDIA_ROOT with an internal location for more speed."""
    if not request.user.is_authenticated:
        if get_authorization_header(request):
            try:
                found = TokenAuthentication().authenticate(request)
            except exceptions.AuthenticationFailed:
                found = None
            if found is None:
                response = HttpResponse("invalid token", status=401, content_type="text/plain")
                response["WWW-Authenticate"] = "Token"
                return response
        else:
            return redirect_to_login(request.get_full_path())
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    response["Cache-Control"] = "private, max-age=86400"
    return response
