"""The typeahead the way Japanese people type names: romaji in its variants, old and new kanji
forms, readings with or without their space; checked on real idol names
(``../shared/data/idols_ja.csv``) and on the folding rules themselves."""

from __future__ import annotations

import csv

import pytest

from labeling.search import idol_search
from labeling.text import guess_reading, kana_romaji, romaji_key, search_fold
from tests.conftest import SHARED
from tests.factories import make_group, make_idol

IDOLS_CSV = SHARED / "data" / "idols_ja.csv"


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("saito", "saito"),
        ("saitou", "saito"),
        ("saitoh", "saito"),
        ("siraisi", "shiraishi"),
        ("tutui", "tsutsui"),
        ("hukumura", "fukumura"),
        ("mitisige", "michishige"),
        ("kozima", "kojima"),
        ("zyurina", "jurina"),
        ("jyurina", "jurina"),
        ("endoh", "endo"),
        ("yuuki", "yuki"),
        ("ohno", "ono"),
        ("namba", "nanba"),
        ("kan'na", "kana"),
        ("SAITO  Asuka", "saito asuka"),
    ],
)
def test_romaji_variants_spell_alike(typed, key):
    assert romaji_key(typed) == key


@pytest.mark.parametrize(
    ("kana", "romaji"),
    [
        ("さいとう あすか", "saitou asuka"),
        ("ｻｲﾄｳ", "saitou"),
        ("シライシ", "shiraishi"),
        ("きゃりー", "kyari"),
        ("まっちゃ", "matcha"),
        ("じゅりな", "jurina"),
        ("みづき", "mizuki"),
        ("ふぁん", "fan"),
        ("ちょうさ", "chousa"),
    ],
)
def test_kana_to_romaji(kana, romaji):
    assert kana_romaji(kana) == romaji


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("齋藤飛鳥", "斎藤飛鳥"),
        ("斉藤", "齊藤"),
        ("髙山", "高山"),
        ("長濱", "長浜"),
        ("渡邉", "渡辺"),
        ("渡邊", "渡辺"),
        ("小嶋", "小島"),
        ("山﨑", "山崎"),
    ],
)
def test_old_and_new_kanji_forms_fold_alike(a, b):
    assert search_fold(a) == search_fold(b)


def test_middle_dots_and_width_fold_away():
    assert search_fold("ジェニー・キム") == search_fold("ｼﾞｪﾆｰ ｷﾑ") == "じぇにー きむ"


@pytest.fixture
def japanese_idols(db):
    if not IDOLS_CSV.is_file():
        pytest.skip(f"needs {IDOLS_CSV} (the shared data)")
    with IDOLS_CSV.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    groups = {}
    for row in rows:
        if row["group"] not in groups:
            groups[row["group"]] = make_group(row["group"])
        row["idol"] = make_idol(row["name"], reading=row["reading"], group=groups[row["group"]])
    return rows


def test_every_other_kanji_form_finds_her_first(japanese_idols):
    cases = [(row, other) for row in japanese_idols for other in row["also_written"].split("|") if other]
    assert len(cases) >= 8
    for row, other in cases:
        hits = idol_search(other)
        assert hits and hits[0].id == row["idol"].pk, (other, [h.name for h in hits])


def test_the_romaji_people_type_finds_her(japanese_idols):
    cases = [(row, typed) for row in japanese_idols for typed in row["romaji_queries"].split("|") if typed]
    assert len(cases) >= 30
    for row, typed in cases:
        hits = [h.id for h in idol_search(typed)]
        assert row["idol"].pk in hits, (typed, row["name"])
        if " " in typed:  # a whole name: she comes first
            assert hits[0] == row["idol"].pk, (typed, row["name"])


def test_a_reading_typed_without_its_space_finds_her(japanese_idols):
    for row in japanese_idols:
        hits = idol_search(row["reading"].replace(" ", ""))
        assert hits and hits[0].id == row["idol"].pk, row["reading"]
    assert idol_search("saito")[0].name == "齋藤飛鳥"


def test_romaji_does_not_shadow_a_name_written_in_latin_letters(db):
    will = make_idol("Will Smith")
    make_idol("渡辺麻友", reading="わたなべ まゆ")
    assert idol_search("will")[0].id == will.pk
    assert [h.name for h in idol_search("mayu")] == ["渡辺麻友"]


# --- readings guessed for idols nobody gave one -----------------------------------------------


def test_most_real_names_get_their_reading_guessed():
    if not IDOLS_CSV.is_file():
        pytest.skip(f"needs {IDOLS_CSV} (the shared data)")
    with IDOLS_CSV.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    right = [r["name"] for r in rows if guess_reading(r["name"]).replace(" ", "") == r["reading"].replace(" ", "")]
    # Names are read many ways (生田絵梨花 is いくた えりか, not えりはな): most, not all.
    assert len(right) >= 2 * len(rows) // 3, right
    assert guess_reading("西野七瀬") == "にしの ななせ"


def test_only_names_in_kanji_are_guessed():
    assert guess_reading("さいとう") == guess_reading("Will Smith") == guess_reading("") == ""
    assert guess_reading("西野　七瀬") == "にしの ななせ"  # width and spaces folded first


def test_an_idol_without_a_reading_is_found_by_the_guessed_one(db):
    asuka = make_idol("齋藤飛鳥")
    given = make_idol("西野七瀬", reading="にしの ななせ")
    for typed in ("さいとう", "サイトウ アスカ", "saito", "saitou asuka", "asuka", "さいとうあすか"):
        assert [h.id for h in idol_search(typed)] == [asuka.pk], typed
    hit = idol_search("asuka")[0]
    assert hit.reading == ""  # a guess is not shown as her reading
    assert [h.id for h in idol_search("nishino")] == [given.pk]  # a given reading is used as it is
