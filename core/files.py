"""Files the app writes itself are owner-only: photos and faces are people's, models are the
labelers' work (``FILE_UPLOAD_PERMISSIONS`` covers what goes through the storage)."""

from __future__ import annotations

from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and any missing parents with mode 0700 (existing ones are left alone)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        folder.chmod(PRIVATE_DIR)  # mkdir's mode is masked by the umask
