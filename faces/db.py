"""Transactions that survive concurrent writers: a deadlock or serialization failure on
PostgreSQL, or a locked SQLite file, runs the whole transaction again instead of failing."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, transaction

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back
# and the same work may well succeed when it runs again.
RETRYABLE_PGCODES = frozenset({"40P01", "40001"})
ATTEMPTS = 5


def is_retryable(exc: BaseException) -> bool:
    """A transient conflict between transactions (the work itself is fine)."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    code = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
    if code in RETRYABLE_PGCODES:
        return True
    return "database is locked" in str(exc)


def atomic_retrying(func: Callable[P, R]) -> Callable[P, R]:
    """``transaction.atomic`` that runs ``func`` again (up to ``ATTEMPTS`` times, after a short
    random pause) when the database refuses the transaction for a transient conflict.

    Only the outermost transaction can be run again: inside another one, a conflict aborts the
    caller's transaction too, so the error goes up for the caller to handle. The arguments are
    used again: pass lists, not generators."""
    atomic_func = transaction.atomic(func)

    @functools.wraps(func)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        if transaction.get_connection().in_atomic_block:
            return atomic_func(*args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return atomic_func(*args, **kwargs)
            except OperationalError as exc:
                if attempt == ATTEMPTS or not is_retryable(exc):
                    raise
                log.info("%s: %s; running it again (attempt %d)", func.__qualname__, exc, attempt + 1)
            time.sleep(random.uniform(0.005, 0.02 * 2**attempt))
        raise AssertionError("unreachable")

    return wrapped
