"""Folding names for search: kana and width folded, case folded, spaces collapsed.

``はるか``, ``ハルカ`` and ``ﾊﾙｶ`` all fold to ``はるか``; ``ＡＫＢ４８`` folds to ``akb48``.
"""

from __future__ import annotations

import functools
import re
import threading
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


# --- the typeahead's keys: kanji variants folded, romaji as people type it ---------------------

# Old and new (or variant) forms of the kanji common in names, folded to one: 齋藤 finds 斎藤.
KANJI_VARIANTS = str.maketrans(
    {
        "齋": "斉", "齊": "斉", "斎": "斉",
        "髙": "高", "﨑": "崎", "嵜": "崎", "碕": "崎",
        "邊": "辺", "邉": "辺", "濱": "浜", "澤": "沢", "櫻": "桜", "廣": "広", "國": "国",
        "關": "関", "眞": "真", "實": "実", "德": "徳", "惠": "恵", "條": "条", "嶋": "島",
        "嶌": "島", "冨": "富", "龍": "竜", "瀧": "滝", "藏": "蔵", "曾": "曽", "彌": "弥",
        "與": "与", "壽": "寿", "榮": "栄", "圓": "円", "學": "学", "禮": "礼", "萬": "万",
        "淺": "浅", "戶": "戸", "槇": "槙",
    }
)  # fmt: skip
_DOTS = str.maketrans({"・": " ", "·": " ", "=": " "})


def search_fold(text: str) -> str:
    """:func:`fold`, then kanji variants folded and middle dots taken as spaces."""
    return " ".join(fold(text).translate(_DOTS).translate(KANJI_VARIANTS).split())


_KANA = {
    **dict(zip("あいうえお", ["a", "i", "u", "e", "o"], strict=True)),
    **{k: "k" + v for k, v in zip("かきくけこ", "aiueo", strict=True)},
    **{k: "g" + v for k, v in zip("がぎぐげご", "aiueo", strict=True)},
    **dict(zip("さしすせそ", ["sa", "shi", "su", "se", "so"], strict=True)),
    **dict(zip("ざじずぜぞ", ["za", "ji", "zu", "ze", "zo"], strict=True)),
    **dict(zip("たちつてと", ["ta", "chi", "tsu", "te", "to"], strict=True)),
    **dict(zip("だぢづでど", ["da", "ji", "zu", "de", "do"], strict=True)),
    **{k: "n" + v for k, v in zip("なにぬねの", "aiueo", strict=True)},
    **dict(zip("はひふへほ", ["ha", "hi", "fu", "he", "ho"], strict=True)),
    **{k: "b" + v for k, v in zip("ばびぶべぼ", "aiueo", strict=True)},
    **{k: "p" + v for k, v in zip("ぱぴぷぺぽ", "aiueo", strict=True)},
    **{k: "m" + v for k, v in zip("まみむめも", "aiueo", strict=True)},
    **dict(zip("やゆよ", ["ya", "yu", "yo"], strict=True)),
    **{k: "r" + v for k, v in zip("らりるれろ", "aiueo", strict=True)},
    **dict(zip("わゐゑを", ["wa", "i", "e", "o"], strict=True)),
    "ん": "n", "ゔ": "vu",
    **dict(zip("ぁぃぅぇぉ", ["a", "i", "u", "e", "o"], strict=True)),
}  # fmt: skip
_SMALL_Y = {"ゃ": "a", "ゅ": "u", "ょ": "o"}


def kana_romaji(text: str) -> str:
    """Hepburn romaji of the kana in ``text`` (other characters kept): さいとう あすか ->
    ``saitou asuka``, きゃりー -> ``kyarii``."""
    text = fold(text)
    out: list[str] = []
    double = False
    for ch in text:
        if ch == "っ":
            double = True
            continue
        if ch in _SMALL_Y and out:
            last = out.pop()
            # き + ゃ = kya; し + ゃ = sha; ち + ゃ = cha; じ + ゃ = ja
            stem = last[:-1]
            out.append((stem if stem.endswith(("sh", "ch", "j")) else stem + "y") + _SMALL_Y[ch])
            continue
        if ch in "ぁぃぅぇぉ" and out and out[-1] in ("fu", "vu", "u", "te", "de"):
            out.append(out.pop()[:-1] + _KANA[ch])  # ふぁ = fa, てぃ = ti
            continue
        if ch == "ー":
            continue  # a long vowel: people type it or not (see romaji_key)
        roman = _KANA.get(ch, ch)
        if double and roman[:1].isalpha():
            roman = ("t" if roman.startswith("ch") else roman[0]) + roman
        double = False
        out.append(roman)
    return "".join(out)


_ROMAJI_RULES = [
    (re.compile(pattern), replacement)
    for pattern, replacement in [
        (r"[^a-z ]", ""),
        (r"n'", "n"),
        (r"sy([aueo])", r"sh\1"),
        (r"(?:ty|cy)([aueo])", r"ch\1"),
        (r"(?:zy|jy|dy)([aueo])", r"j\1"),
        (r"si", "shi"),
        (r"ti", "chi"),
        (r"(?<!t)tu", "tsu"),
        (r"hu", "fu"),
        (r"(?:zi|di)", "ji"),
        (r"du", "zu"),
        (r"cch", "tch"),
        (r"m(?=[bpm])", "n"),
        (r"nn", "n"),
        (r"oh(?![aiueoy])", "o"),
        (r"o[ou]", "o"),
        (r"uu", "u"),
        (r"aa", "a"),
    ]
]


def romaji_key(text: str) -> str:
    """One spelling for the ways people type a name in romaji: saito, saitou and saitoh;
    shi and si; tsu and tu; long vowels or not (applied alike to the kana's own romaji)."""
    key = fold(text)
    for pattern, replacement in _ROMAJI_RULES:
        key = pattern.sub(replacement, key)
    return " ".join(key.split())


# --- readings for names nobody gave one -----------------------------------------------------

_tagger: dict[str, object] = {}
_tagger_lock = threading.Lock()
_KANJI = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f々〆]")


@functools.lru_cache(maxsize=20_000)
def guess_reading(name: str) -> str:
    """The hiragana reading MeCab with UniDic (fugashi, unidic-lite) gives a name written in
    kanji, word by word (西野七瀬 -> にしの ななせ); "" when the name holds no kanji (kana and
    romaji are read as they are) or a part of it has no reading in the dictionary. Names are
    read many ways, so this is a search aid for idols without a reading, never shown as theirs.
    The dictionary is memory-mapped: a few MB and milliseconds to open, once per process."""
    name = unicodedata.normalize("NFKC", name or "").strip()
    if not _KANJI.search(name):
        return ""
    with _tagger_lock:  # one MeCab tagger per process, not safe to share between threads
        if "mecab" not in _tagger:
            import fugashi  # lazily: most processes never guess a reading

            _tagger["mecab"] = fugashi.Tagger()
        words = [(w.surface, w.feature.kana) for w in _tagger["mecab"](name.replace("・", " "))]
    parts = []
    for surface, kana in words:
        if not kana:
            if _KANJI.search(surface):
                return ""
            kana = surface
        parts.append(kana)
    return fold(" ".join(parts))


NAME_KEY_LENGTH = 255


def name_key(text: str) -> str:
    """What two names share when people would take them for one: :func:`search_fold` without
    spaces (齋藤 飛鳥, 斎藤飛鳥 and ｻｲﾄｳ･ｱｽｶ's kanji twin all give one key). Stored, indexed, on
    idols and aliases, so the duplicate check is one indexed lookup."""
    return search_fold(text).replace(" ", "")[:NAME_KEY_LENGTH]


def names_clash(*, key: str, reading_key: str, other_key: str, other_reading_key: str) -> bool:
    """Whether a name (``key``, read ``reading_key``) is taken by another idol's name or reading
    (their keys; さいとうあすか is 齋藤飛鳥's): the same key, unless both readings are known and
    differ (the same kanji read two ways: two people)."""
    if not key or key not in (other_key, other_reading_key):
        return False
    return not (reading_key and other_reading_key and reading_key != other_reading_key)
