from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from django.views.static import serve


@require_GET
@login_required
def media(request: HttpRequest, path: str) -> HttpResponse:
    """Photos and crops show people: only signed-in users see them.

    ``serve`` refuses paths that leave MEDIA_ROOT and answers conditional requests. Behind a
    reverse proxy, point it at MEDIA_ROOT with an internal location for more speed."""
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    response["Cache-Control"] = "private, max-age=86400"
    return response
