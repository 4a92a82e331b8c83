"""faces.db.atomic_retrying: a transaction refused for a transient conflict runs again."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError, transaction

from faces import db
from faces.models import Source

pytestmark = pytest.mark.django_db(transaction=True)


class PgError(Exception):
    def __init__(self, pgcode: str) -> None:
        super().__init__(pgcode)
        self.pgcode = pgcode


def failing(times: int, exc: Exception):
    calls = []

    @db.atomic_retrying
    def write() -> int:
        calls.append(1)
        Source.objects.create(kind="folder", name=f"try {len(calls)}", locator=f"/tmp/{len(calls)}")
        if len(calls) <= times:
            raise exc
        return len(calls)

    return write, calls


def conflict(code: str) -> OperationalError:
    error = OperationalError("deadlock detected" if code == "40P01" else "could not serialize")
    error.__cause__ = PgError(code)
    return error


@pytest.mark.parametrize("exc", [conflict("40P01"), conflict("40001"), OperationalError("database is locked")])
def test_a_transient_conflict_runs_the_transaction_again(exc, monkeypatch):
    monkeypatch.setattr(db.time, "sleep", lambda seconds: None)
    write, _ = failing(2, exc)
    assert write() == 3
    assert list(Source.objects.values_list("name", flat=True)) == ["try 3"]  # the failed tries left nothing


def test_other_errors_and_too_many_conflicts_go_up(monkeypatch):
    monkeypatch.setattr(db.time, "sleep", lambda seconds: None)
    write, calls = failing(1, OperationalError("no such table"))
    with pytest.raises(OperationalError):
        write()
    assert len(calls) == 1
    write, calls = failing(1, IntegrityError("duplicate"))
    with pytest.raises(IntegrityError):
        write()
    write, calls = failing(99, conflict("40P01"))
    with pytest.raises(OperationalError):
        write()
    assert len(calls) == db.ATTEMPTS and not Source.objects.exists()


def test_inside_a_callers_transaction_the_conflict_goes_up():
    write, calls = failing(1, conflict("40P01"))
    with pytest.raises(OperationalError), transaction.atomic():
        write()
    assert len(calls) == 1
