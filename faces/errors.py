"""Domain errors raised by services. Views, the API and commands turn them into messages."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses: bad input or a forbidden state change. Nothing was changed."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidImage(DomainError):
    """The bytes are not an image we can use (empty, truncated, not an image, too large)."""

    code = "invalid_image"


class DuplicatePhoto(DomainError):
    """The photo is already stored (same content, or the same item of the same source)."""

    code = "duplicate"

    def __init__(self, message: str, *, existing_id: int | None = None) -> None:
        super().__init__(message)
        self.existing_id = existing_id


class TrashedBefore(DomainError):
    """The photo was trashed once; its tombstone keeps it from coming back."""

    code = "trashed_before"
