"""The S3-compatible storage (AWS S3, MinIO, ...): private objects, read through signed URLs.

Imported only when ``IDOLSITE_S3_BUCKET`` is set (it loads boto3).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage


class PrivateS3Storage(S3Storage):
    """Objects nobody reads without a signature. ``url()`` is the app's own media address, so
    every read passes the permission check of ``faces.views.media`` first, which then
    redirects to ``signed_url()``, valid for ``IDOLSITE_S3_URL_SECONDS``."""

    default_acl = "private"
    querystring_auth = True

    def url(self, name: str, parameters: Any = None, expire: Any = None, http_method: Any = None) -> str:
        return urljoin(settings.MEDIA_URL, filepath_to_uri(name))

    def signed_url(self, name: str) -> str:
        return super().url(name, expire=settings.IDOLSITE_S3_URL_SECONDS)
