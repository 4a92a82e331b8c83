"""faces sits below labeling: it neither imports labeling nor names labeling's relations
(``labels``, ``labels__idol``, ``face.labels``) in a lookup, a prefetch or an attribute."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import faces

FACES = Path(faces.__file__).parent
LABEL_NAME = re.compile(r"(^|__)labels?(__|$)")


def _names_of_labeling(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        where = f"{path.relative_to(FACES.parent)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{where} imports {m}" for m in modules if m.split(".")[0] == "labeling"]
        elif isinstance(node, ast.keyword) and node.arg and LABEL_NAME.search(node.arg):
            found.append(f"{where} looks up {node.arg}")
        elif isinstance(node, ast.Attribute) and node.attr == "labels":
            found.append(f"{where} reads .labels")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and LABEL_NAME.search(node.value):
            found.append(f"{where} names {node.value!r}")
    return found


def test_faces_names_none_of_labelings_tables_or_relations():
    paths = [p for p in sorted(FACES.rglob("*.py")) if "migrations" not in p.parts]
    assert paths
    assert [found for path in paths for found in _names_of_labeling(path)] == []
