"""Nothing a person reads is left in English on a Japanese page: every marked string has its
Japanese, the compiled catalogs match their sources, and the templates hold no unmarked text.

``makemessages`` runs on a copy of the sources (so a test never rewrites the tree) and merges
the committed translations in; an entry it then leaves empty or fuzzy is a string someone added
without its Japanese. ``make messages`` gathers and compiles them for real.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.template.base import Lexer, TokenType

ROOT = Path(__file__).resolve().parent.parent.parent
SOURCES = ("core", "faces", "labeling", "classifier", "bots", "backups", "idolsite", "templates", "locale", "manage.py")
TEMPLATES = ROOT / "templates"

needs_gettext = pytest.mark.skipif(
    shutil.which("xgettext") is None or shutil.which("msgmerge") is None,
    reason="makemessages needs GNU gettext (xgettext, msgmerge), absent here",
)


def _catalogs(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("locale/ja/LC_MESSAGES/*.po") if ".venv" not in p.parts)


def _missing(po_file: Path) -> list[str]:
    po = polib.pofile(str(po_file))
    return [entry.msgid for entry in po if entry.msgid and (not entry.translated() or entry.fuzzy)]


def test_every_catalog_is_complete():
    catalogs = _catalogs(ROOT)
    assert {p.relative_to(ROOT).parts[0] for p in catalogs} >= {"locale", "labeling", "classifier", "faces", "bots"}
    for po_file in catalogs:
        assert _missing(po_file) == [], f"{po_file.relative_to(ROOT)} has strings without their Japanese"


def test_every_compiled_catalog_matches_its_source():
    for po_file in _catalogs(ROOT):
        mo_file = po_file.with_suffix(".mo")
        assert mo_file.is_file(), f"{mo_file.relative_to(ROOT)} is missing: run make messages"
        compiled = {
            (e.msgctxt, e.msgid): (e.msgstr, tuple(sorted(e.msgstr_plural.items())))
            for e in polib.mofile(str(mo_file))
            if e.msgid
        }
        source = {
            (e.msgctxt, e.msgid): (e.msgstr, tuple(sorted(e.msgstr_plural.items())))
            for e in polib.pofile(str(po_file))
            if e.msgid and e.translated() and not e.fuzzy and not e.obsolete
        }
        assert compiled == source, f"{mo_file.relative_to(ROOT)} is out of date: run make messages"


@needs_gettext
def test_every_marked_string_has_its_japanese(tmp_path):
    copy = tmp_path / "src"
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            copy.mkdir(exist_ok=True)
            shutil.copy2(source, copy / name)
    env = {**os.environ, "SECRET_KEY": "translations", "DJANGO_SETTINGS_MODULE": "idolsite.settings"}
    env.pop("DATABASE_URL", None)
    for domain in ("django", "djangojs"):
        subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-l", "ja", "-d", domain, "--no-obsolete"],
            cwd=copy,
            env=env,
            check=True,
            capture_output=True,
        )
    missing = {str(p.relative_to(copy)): _missing(p) for p in _catalogs(copy)}
    assert {k: v for k, v in missing.items() if v} == {}, "strings without their Japanese: run make messages"


# Text a person reads in a template: between tags, and in these attributes.
_READ_ATTRS = re.compile(r'\b(?:placeholder|title|aria-label|alt|label)="([^"\0]*[A-Za-z]{2,}[^"\0]*)"')
_TAG = re.compile(r"<(script|style)\b.*?</\1>|<!--.*?-->|<[^>]*>", re.S)
_WORD = re.compile(r"[A-Za-z]{2,}")
# Words that read the same in Japanese: names, units and keys.
_SAME_IN_JAPANESE = {
    "idolsite",
    "Esc",
    "Enter",
    "Tab",
    "Space",
    "Shift",
    "Delete",
    "Backspace",
    "ID",
    "JSON",
    "API",
    "px",
    "ms",
    "top",
}


def _unmarked_text(path: Path) -> list[str]:
    """The template with its tags and variables blanked out (and what blocktranslate holds
    dropped): any word left between HTML tags or in a read attribute is unmarked text."""
    parts = []
    inside_translation = 0
    for token in Lexer(path.read_text(encoding="utf-8")).tokenize():
        word = token.contents.split()[0] if token.token_type == TokenType.BLOCK and token.contents else ""
        if word in ("blocktranslate", "blocktrans"):
            inside_translation += 1
        elif word in ("endblocktranslate", "endblocktrans"):
            inside_translation -= 1
        elif token.token_type == TokenType.TEXT and not inside_translation:
            parts.append(token.contents)
        elif token.token_type != TokenType.COMMENT:
            parts.append("\0")
    source = "".join(parts)
    # A CSS selector or a script may name an attribute's value (img[alt="..."]): not read.
    markup = re.sub(r"<(script|style)\b.*?</\1>", "\n", source, flags=re.S)
    found = [m.group(1).strip() for m in _READ_ATTRS.finditer(markup)]
    text = re.sub(r"&[a-z]+;|&#\d+;", " ", _TAG.sub("\n", source))
    found += [
        line.strip() for line in text.splitlines() if any(w not in _SAME_IN_JAPANESE for w in _WORD.findall(line))
    ]
    return found


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_hold_no_unmarked_text(path):
    assert _unmarked_text(path) == []
