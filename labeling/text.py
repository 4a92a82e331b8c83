"""Folding names for search: kana and width folded, case folded, spaces collapsed.

``はるか``, ``ハルカ`` and ``ﾊﾙｶ`` all fold to ``はるか``; ``ＡＫＢ４８`` folds to ``akb48``.
"""

from __future__ import annotations

import unicodedata

_KATAKANA_START = 0x30A1  # ァ
_KATAKANA_END = 0x30F6  # ヶ
_KANA_OFFSET = 0x60  # katakana - hiragana


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    chars = []
    for ch in text:
        code = ord(ch)
        if _KATAKANA_START <= code <= _KATAKANA_END:
            ch = chr(code - _KANA_OFFSET)
        chars.append(ch)
    return " ".join("".join(chars).casefold().split())
