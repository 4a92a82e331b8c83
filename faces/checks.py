"""System checks: the folders we write to are writable and the chosen detector can run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register


@register(Tags.compatibility, deploy=False)
def check_writable_folders(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for name in ("MEDIA_ROOT", "IDOLSITE_MODEL_DIR"):
        path = Path(getattr(settings, name))
        try:
            path.mkdir(parents=True, exist_ok=True)
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
