from __future__ import annotations

import mimetypes
import posixpath
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils._os import safe_join
from django.utils.translation import gettext
from django.views.decorators.http import require_GET
from django.views.static import serve
from knox.auth import TokenAuthentication
from rest_framework import exceptions
from rest_framework.authentication import get_authorization_header

from core.storage import local_root, signed_url
from faces.models import Face, Photo

# Model permissions, carried by the role groups of labeling.roles (faces does not import
# labeling): every role reads photos; who trashes and restores photos (the admin role) also
# sees the files of trashed ones.
VIEW_PHOTO = "faces.view_photo"
VIEW_TRASHED = "faces.change_photo"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA_PREFIX = re.compile(r"[0-9a-f]{16}_")


def photo_of_file(name: str) -> Photo | None:
    """The photo (trashed ones too) whose image or thumbnail ``name`` is, or one of whose faces'
    crop it is; None for a name that belongs to no row.

    The names are those faces.services writes: ``photos/<sha[:2]>/<sha>.<ext>``,
    ``thumbs/<sha[:2]>/<sha>.jpg``, ``crops/<sha[:2]>/<sha[:16]>_<x>_<y>_<w>_<h>.jpg`` (the
    storage may add a suffix), so the hash in the name finds the photo through the unique index
    on ``sha256`` and the exact name is then compared with the row's."""
    folder, _, rest = name.partition("/")
    prefix, _, filename = rest.partition("/")
    if folder in ("photos", "thumbs"):
        sha = filename[:64]
        if not _SHA256.fullmatch(sha) or sha[:2] != prefix:
            return None
        photo = Photo.all_objects.filter(sha256=sha).first()
        if photo is not None and name in (photo.image.name, photo.thumbnail.name):
            return photo
        return None
    if folder == "crops":
        if not _SHA_PREFIX.match(filename) or filename[:2] != prefix:
            return None
        head = filename[:16]
        # A range on the indexed hash (SQLite cannot use an index for LIKE); ``startswith``
        # keeps the answer right whatever the database's collation.
        faces = Face.objects.filter(crop=name, photo__sha256__startswith=head, photo__sha256__gte=head)
        upper = f"{int(head, 16) + 1:016x}"
        if len(upper) == len(head):
            faces = faces.filter(photo__sha256__lt=upper)
        face = faces.select_related("photo").first()
        return face.photo if face is not None else None
    return None


def _token_user(request: HttpRequest) -> Any:
    """The user of an ``Authorization: Token <key>`` header, or None for a bad key."""
    try:
        found = TokenAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed:
        return None
    return found[0] if found else None


@require_GET
def media(request: HttpRequest, path: str) -> HttpResponse:
    """Photos and crops show people: only users with a role see them, by session (the pages) or
    by ``Authorization: Token <key>`` (API clients following a crop or image URL). The files of
    a trashed photo (its image, thumbnail and crops) and files that belong to no row are for
    admins only; others get 404, as if they did not exist.

    On local disk, ``serve`` refuses paths that leave MEDIA_ROOT and answers conditional
    requests; behind nginx (``IDOLSITE_MEDIA_ACCEL_REDIRECT``), nginx sends the file from an
    internal location. In a bucket the objects are private: the answer is a redirect to an
    address signed for a few minutes, never a public one."""
    user = request.user
    if not user.is_authenticated:
        if not get_authorization_header(request):
            return redirect_to_login(request.get_full_path())
        user = _token_user(request)
        if user is None:
            response = HttpResponse(gettext("invalid token"), status=401, content_type="text/plain")
            response["WWW-Authenticate"] = "Token"
            return response
    if not user.has_perm(VIEW_PHOTO):
        raise PermissionDenied
    if not user.has_perm(VIEW_TRASHED):
        photo = photo_of_file(path)
        if photo is None or photo.is_trashed:
            raise Http404("no such file")
    root = local_root(default_storage)
    if root is None:
        url = signed_url(default_storage, path)
        if url is None:
            raise Http404("no such file")
        response = HttpResponseRedirect(url)
        # Cached for less than the signature lives, so a cached redirect never leads to a 403.
        response["Cache-Control"] = f"private, max-age={settings.IDOLSITE_S3_URL_SECONDS // 2}"
        return response
    if settings.IDOLSITE_MEDIA_ACCEL_REDIRECT:
        response = _accel_redirect(path)
    else:
        response = serve(request, path, document_root=root)
    response["Cache-Control"] = "private, max-age=86400"
    return response


def _accel_redirect(path: str) -> HttpResponse:
    """An empty answer that tells nginx to send the file from its internal location: the role
    check stays here, the bytes (and Range and conditional requests) are nginx's. Paths are
    checked as ``serve`` checks them, so nginx is never sent outside MEDIA_ROOT."""
    name = posixpath.normpath(path).lstrip("/")
    try:
        full = Path(safe_join(settings.MEDIA_ROOT, name))
    except SuspiciousFileOperation:
        raise Http404("no such file") from None
    if not full.is_file():
        raise Http404("no such file")
    content_type, encoding = mimetypes.guess_type(name)
    response = HttpResponse(content_type=content_type or "application/octet-stream")
    if encoding:
        response["Content-Encoding"] = encoding
    response["X-Accel-Redirect"] = settings.IDOLSITE_MEDIA_ACCEL_REDIRECT + quote(name)
    return response
