"""System checks: the folders we write to are writable and the chosen detector can run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


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
