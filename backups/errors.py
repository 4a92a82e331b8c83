from __future__ import annotations

from core.errors import DomainError


class BackupError(DomainError):
    """A backup or a restore refused or failed; the message says why (and which files)."""

    code = "backup"
