"""System checks: the folders we write to are writable and the chosen detector can run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from core.files import make_private_dirs


def _local_folders() -> list[tuple[str, Path]]:
    """The folders this process writes to: the storages' own on local disk; with a bucket, the
    cache of downloaded model files."""
    from django.core.files.storage import storages

    from core.storage import local_root

    folders = []
    if local_root(storages["default"]) is not None:
        folders.append(("MEDIA_ROOT", Path(settings.MEDIA_ROOT)))
    if local_root(storages["models"]) is not None:
        folders.append(("IDOLSITE_MODEL_DIR", Path(settings.IDOLSITE_MODEL_DIR)))
    else:
        folders.append(("IDOLSITE_MODEL_CACHE_DIR", Path(settings.IDOLSITE_MODEL_CACHE_DIR)))
    return folders


@register(Tags.compatibility, deploy=False)
def check_writable_folders(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for name, path in _local_folders():
        try:
            make_private_dirs(path)
        except OSError as exc:
            errors.append(Error(f"{name} ({path}) cannot be created: {exc}", id="idolsite.E001"))
            continue
        if not os.access(path, os.W_OK):
            errors.append(Error(f"{name} ({path}) is not writable", id="idolsite.E002"))
    return errors


@register(Tags.compatibility, deploy=False)
def check_detector(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The chosen detector exists and has what it needs (the YuNet model file), without loading
    any library: checks run in every process, the web server's included."""
    from faces.detectors import DETECTORS

    name = settings.IDOLSITE_DETECTOR
    if name not in DETECTORS:
        return [
            Error(
                f"IDOLSITE_DETECTOR={name!r} is not a detector",
                hint=f"Choose one of {', '.join(DETECTORS)}.",
                id="idolsite.E003",
            )
        ]
    return [Error(message, id="idolsite.E004") for message in DETECTORS[name].configuration_errors()]


@register(Tags.compatibility, deploy=False)
def check_embedder(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """The chosen embedder exists and its model files are there (missing, still compressed, or a
    failed download), without loading dlib."""
    from faces.embedders import EMBEDDERS

    name = settings.IDOLSITE_EMBEDDER
    if name not in EMBEDDERS:
        return [
            Error(
                f"IDOLSITE_EMBEDDER={name!r} is not an embedder",
                hint=f"Choose one of {', '.join(EMBEDDERS)}.",
                id="faces.E002",
            )
        ]
    return [Error(message, id="faces.E003") for message in EMBEDDERS[name].configuration_errors()]


@register(Tags.compatibility, deploy=False)
def check_detection_claim_timeout(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A detection task killed with its worker is delivered again after Q_CLUSTER "retry"
    seconds; its claim must be stale by then, or the retry finds the photo claimed, skips it
    and the photo stays claimed for good. A claim that goes stale while its task may still run
    lets a second worker detect the same photo (the first then saves nothing)."""
    claim = settings.IDOLSITE_DETECT_CLAIM_TIMEOUT
    timeout, retry = settings.Q_CLUSTER.get("timeout"), settings.Q_CLUSTER.get("retry")
    messages: list[CheckMessage] = []
    if retry is not None and claim >= retry:
        messages.append(
            Error(
                f"IDOLSITE_DETECT_CLAIM_TIMEOUT ({claim} s) is not shorter than the task retry ({retry} s): "
                "the retry of a killed detection would find its photo still claimed",
                hint="Leave IDOLSITE_DETECT_CLAIM_TIMEOUT unset (IDOLSITE_TASK_TIMEOUT + 30) or lower it.",
                id="faces.E001",
            )
        )
    if timeout is not None and claim <= timeout:
        messages.append(
            Warning(
                f"IDOLSITE_DETECT_CLAIM_TIMEOUT ({claim} s) is not longer than the task timeout ({timeout} s): "
                "a detection still running may be taken over by another worker",
                id="faces.W001",
            )
        )
    return messages


def weak_secret_key(key: str) -> str | None:
    """Why ``key`` is too weak to sign sessions and password resets, or None: Django's own
    criteria (security.W009), which Django only warns about."""
    if key.startswith("django-insecure-"):
        return "it starts with 'django-insecure-' (a key generated for development)"
    if len(key) < 50:
        return f"it has {len(key)} characters (at least 50 are needed)"
    if len(set(key)) < 5:
        return f"it has {len(set(key))} different characters (at least 5 are needed)"
    return None


@register(Tags.security, deploy=True)
def check_secret_key(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """``check --deploy`` fails on a weak SECRET_KEY when DEBUG is off (development keys are
    generated strong)."""
    if settings.DEBUG:
        return []
    reason = weak_secret_key(str(settings.SECRET_KEY))
    if reason is None:
        return []
    return [
        Error(
            f"SECRET_KEY is too weak: {reason}",
            hint=(
                "Set SECRET_KEY to a long random value, e.g. "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
            ),
            id="idolsite.E021",
        )
    ]
