"""The house's floors, read from the source: which module imports which (every import counts,
those inside functions too), no import going in a circle, the apps importing one way
(bots and backups -> classifier -> labeling -> faces -> core), and the classifier's ML package
free of Django."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "faces", "labeling", "classifier", "bots", "backups", "idolsite")
APPS = ("faces", "labeling", "classifier", "bots", "backups")


@cache
def modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(name: str) -> str | None:
    """The project module ``name`` is, or the closest package holding it; None outside."""
    known = modules()
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _imported(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(dotted name, line) of everything ``module`` imports, at any depth of its code."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # ``from package import module`` imports the module; ``from module import name``
                # the module.
                yield (f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base), node.lineno


@cache
def graph() -> dict[str, dict[str, int]]:
    """module -> {imported project module: first line}."""
    edges: dict[str, dict[str, int]] = {}
    for module, path in modules().items():
        out: dict[str, int] = {}
        for name, line in _imported(module, path):
            target = _resolve(name)
            if target is not None and target != module:
                out.setdefault(target, line)
        edges[module] = out
    return edges


def external(module: str) -> set[str]:
    """The top-level names of what ``module`` imports from outside the project."""
    path = modules()[module]
    return {name.split(".")[0] for name, _ in _imported(module, path) if _resolve(name) is None}


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def crossings(source: str, targets: tuple[str, ...]) -> list[str]:
    """``module:line -> imported`` for each import from a module of ``source`` into ``targets``."""
    return [
        f"{module}:{line} -> {target}"
        for module, out in sorted(graph().items())
        if module.split(".")[0] == source
        for target, line in sorted(out.items())
        if target.split(".")[0] in targets
    ]


def test_the_import_graph_sees_function_level_and_relative_imports():
    assert "classifier.services.versions" in graph()["classifier.services.runs"]
    assert "classifier.ml.fitting" in graph()["classifier.ml.classifier"]  # imported inside train()
    assert "faces.models" in graph()["faces.admin"]


def test_no_import_goes_in_a_circle():
    assert cycles() == []


@pytest.mark.parametrize(
    ("app", "forbidden"),
    [
        ("faces", ("labeling", "classifier", "bots", "backups")),
        ("labeling", ("classifier", "bots", "backups")),
        ("classifier", ("bots", "backups")),
        ("bots", ("backups",)),
        ("core", (*APPS, "idolsite")),
    ],
)
def test_apps_import_one_way(app, forbidden):
    assert crossings(app, forbidden) == []


def test_no_app_imports_the_project_package():
    assert [line for app in APPS for line in crossings(app, ("idolsite",))] == []


def test_the_classifiers_ml_package_needs_no_django():
    ml = [m for m in modules() if m == "classifier.ml" or m.startswith("classifier.ml.")]
    assert len(ml) > 5
    reached, todo = set(), list(ml)
    while todo:  # and whatever project module they import, at any depth
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph()[module])
    assert sorted(m for m in reached if "django" in external(m) or "rest_framework" in external(m)) == []
    assert sorted(m for m in reached if m.split(".")[0] not in ("classifier", "faces", "core")) == []
    assert sorted(m for m in reached if m.startswith("classifier.") and not m.startswith("classifier.ml")) == []
