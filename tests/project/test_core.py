"""The neutral core: it imports no app, no app imports the project package, and its errors say
their own status, so the API's exception handler needs no table of codes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.api import exception_handler
from core.errors import ApplicationError, Conflict, DomainError, DuplicatePhoto, Forbidden, NotFound, TooLarge
from faces.detectors import DetectorUnavailable

ROOT = Path(__file__).resolve().parents[2]
APPS = ("faces", "labeling", "classifier", "bots", "backups")


def _imported_modules(folder: Path) -> list[tuple[str, str]]:
    found = []
    for file in sorted(folder.rglob("*.py")):
        if "migrations" in file.parts:
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(file.relative_to(ROOT)), node.module))
            elif isinstance(node, ast.Import):
                found.extend((str(file.relative_to(ROOT)), alias.name) for alias in node.names)
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def test_core_imports_no_app_and_not_the_project():
    wrong = [(f, m) for f, m in _imported_modules(ROOT / "core") if _top(m) in (*APPS, "idolsite")]
    assert wrong == []


@pytest.mark.parametrize("app", APPS)
def test_no_app_imports_the_project_package(app):
    assert [(f, m) for f, m in _imported_modules(ROOT / app) if _top(m) == "idolsite"] == []


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (DomainError("bad"), 400, "invalid"),
        (NotFound("gone"), 404, "not_found"),
        (Forbidden("not yours"), 403, "forbidden"),
        (Conflict("already", code="already_done"), 409, "already_done"),
        (TooLarge("big"), 413, "too_large"),
        (DetectorUnavailable("no model file"), 503, "detector_unavailable"),
    ],
)
def test_each_error_kind_answers_its_own_status_and_code(error, status, code):
    response = exception_handler(error, {})
    assert response.status_code == status
    assert response.data == {"error": code, "detail": str(error), "fields": {}}


def test_a_new_error_kind_needs_no_table_in_the_handler():
    class Archived(Conflict):
        code = "archived"

    class Teapot(ApplicationError):
        status = 418
        code = "teapot"

    response = exception_handler(Archived("the thing is archived", field="thing"), {})
    assert response.status_code == 409
    assert response.data == {
        "error": "archived",
        "detail": "the thing is archived",
        "fields": {"thing": ["the thing is archived"]},
    }
    assert exception_handler(Teapot("short and stout"), {}).status_code == 418


def test_a_duplicate_photo_answers_the_stored_one():
    response = exception_handler(DuplicatePhoto("stored already", existing_id=7), {})
    assert response.status_code == 409
    assert response.data == {"error": "duplicate", "detail": "stored already", "fields": {}, "existing": 7}
