"""Files written by a write: removed again when its transaction fails."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction


@dataclass
class FileTracker:
    """Remembers the files a write created, to delete them if the write fails."""

    names: list[str] = field(default_factory=list)

    def save(self, name: str, content: bytes) -> str:
        stored = default_storage.save(name, ContentFile(content))
        self.names.append(stored)
        return stored

    def discard(self) -> None:
        for name in self.names:
            with contextlib.suppress(OSError):
                default_storage.delete(name)
        self.names.clear()


@contextlib.contextmanager
def atomic_with_files() -> Iterator[FileTracker]:
    """A transaction whose new files are deleted again if it fails.

    Use it as the outermost transaction of a write: files cannot follow a rollback of an
    enclosing transaction that happens after this block has finished.
    """
    tracker = FileTracker()
    try:
        with transaction.atomic():
            yield tracker
    except BaseException:
        tracker.discard()
        raise


def delete_files(names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(OSError):
            default_storage.delete(name)
