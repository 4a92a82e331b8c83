"""Where files live: Django's storages, on local disk or in an S3-compatible bucket.

``default`` holds the media (photos, thumbnails, crops, exports, the bots' pictures) and
``models`` the classifier's files; ``idolsite/settings.py`` picks the backends. Code reads and
writes through the storage API only, so a second machine sharing the bucket sees every file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage
from django.utils.functional import cached_property


class ModelFileSystemStorage(FileSystemStorage):
    """The model files on local disk: ``IDOLSITE_MODEL_DIR`` unless a location is given, read
    when first used (tests point the setting elsewhere)."""

    def _clear_cached_properties(self, setting: str, **kwargs: Any) -> None:
        super()._clear_cached_properties(setting, **kwargs)
        if setting == "IDOLSITE_MODEL_DIR":
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)

    @cached_property
    def base_location(self) -> Any:
        return self._value_or_setting(self._location, settings.IDOLSITE_MODEL_DIR)


def local_root(storage: Storage) -> Path | None:
    """The folder a storage keeps its files in, or None for one that has no local path (a bucket)."""
    try:
        return Path(storage.path(""))
    except NotImplementedError:
        return None


def signed_url(storage: Storage, name: str) -> str | None:
    """A short-lived address that serves ``name`` straight from a bucket, or None for a storage
    that cannot sign (local disk: the app serves the file itself)."""
    sign = getattr(storage, "signed_url", None)
    return sign(name) if sign is not None else None


def storage_settings(*, bucket: str, endpoint_url: str = "", region: str = "", prefix: str = "") -> dict[str, dict]:
    """``STORAGES["default"]`` and ``["models"]``: local disk when ``bucket`` is empty, else the
    bucket, media under ``<prefix>/media/`` and models under ``<prefix>/models/`` (apart, so
    no media name reaches a model file)."""
    if not bucket:
        return {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "models": {"BACKEND": "core.storage.ModelFileSystemStorage"},
        }
    prefix = prefix.strip("/")
    common: dict[str, Any] = {
        "bucket_name": bucket,
        "default_acl": "private",
        "querystring_auth": True,
        "signature_version": "s3v4",
        # Credentials come from boto3's own chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ...
    }
    if endpoint_url:
        # MinIO and most S3-compatible servers address buckets by path, not by host name.
        common |= {"endpoint_url": endpoint_url, "addressing_style": "path"}
    if region:
        common["region_name"] = region

    def under(folder: str) -> str:
        return f"{prefix}/{folder}" if prefix else folder

    return {
        # Photos are named by their hash: a second file of a name gets a new name, never
        # replaces the stored one.
        "default": {
            "BACKEND": "core.s3.PrivateS3Storage",
            "OPTIONS": {**common, "location": under("media"), "file_overwrite": False},
        },
        # Model files go under a new folder each time (classifier.services.modelfiles), whose
        # names are exact: a renamed file would not be found by its manifest.
        "models": {
            "BACKEND": "core.s3.PrivateS3Storage",
            "OPTIONS": {**common, "location": under("models"), "file_overwrite": True},
        },
    }


def transient_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a bucket that did not answer now (no connection, a timeout, a 5xx or
    a throttle) rather than a file that is not there: the work is worth trying again later."""
    try:
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
    except ImportError:  # no bucket support installed: no bucket error either
        return False
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or status == 429 or exc.response.get("Error", {}).get("Code") == "SlowDown"
    return isinstance(exc, (ConnectionError, HTTPClientError))
