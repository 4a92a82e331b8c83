"""Errors that say how to answer them: each class carries its HTTP status and a stable code, so
the API's exception handler and the pages' JSON actions answer them alike without knowing any
app (``error_answer``). Services raise them; views, the API and commands turn them into
messages."""

from __future__ import annotations

from typing import Any, ClassVar


class ApplicationError(Exception):
    """An error the site expects and answers with its own status and code. ``field`` names the
    input at fault, if any; ``extra`` is more of the body (a duplicate's ``existing`` id)."""

    status: ClassVar[int] = 500
    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field

    def __str__(self) -> str:
        return self.message

    @property
    def extra(self) -> dict[str, Any]:
        return {}


class DomainError(ApplicationError):
    """A request the domain refuses: bad input or a forbidden state change. Nothing was changed."""

    status = 400
    code = "invalid"


class NotFound(DomainError):
    """A row the request names does not exist (or is hidden from this user)."""

    status = 404
    code = "not_found"


class Forbidden(DomainError):
    """The user may not do this to this row (their role allows the action in general)."""

    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The request is fine, but the current state refuses it (already trashed, already undone):
    the ``code`` says which state."""

    status = 409
    code = "conflict"


class TooLarge(DomainError):
    """The request body is over the size limit."""

    status = 413
    code = "too_large"


class Unavailable(ApplicationError):
    """Something the server needs cannot run here (a model file is missing, a library is
    absent): the request may be fine. Not a DomainError, so code that reports bad input does
    not take it for one."""

    status = 503
    code = "unavailable"


class InvalidImage(DomainError):
    """The bytes are not an image we can use (empty, truncated, not an image, too large)."""

    code = "invalid_image"


class DuplicatePhoto(Conflict):
    """The photo is already stored (same content, or the same item of the same source)."""

    code = "duplicate"

    def __init__(self, message: str, *, existing_id: int | None = None) -> None:
        super().__init__(message)
        self.existing_id = existing_id

    @property
    def extra(self) -> dict[str, Any]:
        return {"existing": self.existing_id} if self.existing_id is not None else {}


class TrashedBefore(Conflict):
    """The photo was trashed once; its tombstone keeps it from coming back."""

    code = "trashed_before"


def error_body(code: str, detail: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The one error shape of the API and the pages' JSON: ``{"error": code, "detail": message,
    "fields": {field: [messages]}}``."""
    return {"error": code, "detail": detail, "fields": fields or {}}


def error_answer(exc: ApplicationError) -> tuple[dict[str, Any], int]:
    """The body and HTTP status of an error, the same for the API and the pages."""
    fields = {exc.field: [exc.message]} if exc.field else {}
    return {**error_body(exc.code, exc.message, fields), **exc.extra}, exc.status
