"""Page progression when a book does not declare it: from its primary language's script, never ``auto``."""

from __future__ import annotations

import pytest

from reader.domain.direction import reading_progression


@pytest.mark.parametrize(
    "language",
    ["ar", "ar-EG", "he", "iw", "fa", "fa-IR", "ur", "yi", "syr", "dv", "ps", "ckb", "ku-Arab", "az-Arab", "sd",
     "ug", "pa-Arab", "AR", "ar_SA"],
)  # fmt: skip
def test_right_to_left_languages_turn_right_to_left(language: str) -> None:
    assert reading_progression("default", (language,)) == "rtl"


@pytest.mark.parametrize("language", ["vi", "en-US", "ja", "zh-Hant", "ku", "ku-Latn", "az", "tr", "uz-Latn", ""])
def test_other_languages_turn_left_to_right(language: str) -> None:
    assert reading_progression("default", (language,)) == "ltr"


def test_a_declared_progression_wins_and_the_first_language_is_the_primary_one() -> None:
    assert reading_progression("ltr", ("ar",)) == "ltr"
    assert reading_progression("rtl", ("vi",)) == "rtl"
    assert reading_progression("default", ("vi", "ar")) == "ltr"
    assert reading_progression("default", ("he", "en")) == "rtl"
    assert reading_progression("default", ()) == "ltr"
    assert reading_progression("auto", ("fa",)) == "rtl"
