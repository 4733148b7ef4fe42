"""Which way a book's pages turn when the book does not say: from the script of its primary language.

A declared ``page-progression-direction`` (``ltr`` or ``rtl``) wins. Otherwise the book turns right to left when
its primary (first) language is written right to left — by its script subtag when it has one (``az-Arab``,
``ku-Arab``), else by the language's usual script (Arabic, Hebrew, Persian, Urdu, Yiddish, Syriac, Dhivehi,
Pashto, Kurdish Sorani…) — and left to right in every other case. ``auto`` is never the answer: the current
Readium Web Publication Manifest allows ``ltr`` and ``rtl`` only.
"""

from __future__ import annotations

RTL_SCRIPTS = frozenset({"arab", "hebr", "syrc", "thaa", "nkoo", "adlm", "rohg", "mand", "samr", "mend", "yezi",
                         "aran", "syre", "syrj", "syrn", "phnx", "sarb", "narb", "avst", "khar", "armi",
                         "palm", "nbat", "hatr", "prti", "phli", "phlp", "mani", "sogd", "chrs", "elym"})  # fmt: skip
# ISO 639 languages whose usual script is one of those (a script subtag overrides this, e.g. ku-Latn)
RTL_LANGUAGES = frozenset({
    "ar", "arb", "arq", "ary", "arz", "aeb", "apc", "apd", "acm", "acw", "afb", "ajp", "apw", "ayl", "ars", "shu",
    "he", "iw", "fa", "pes", "prs", "ur", "yi", "ji", "ydd", "yih", "syr", "aii", "cld", "dv", "ps", "pbt", "pbu",
    "ckb", "sd", "snd", "ug", "ks", "pnb", "skr", "bal", "bqi", "lrc", "mzn", "glk", "haz", "khw", "nqo", "sam",
    "arc", "jrb", "jpr", "azb", "bgn", "brh", "hno",
})  # fmt: skip


def is_right_to_left(language: str) -> bool:
    """Whether a BCP 47 language tag names right-to-left writing."""
    subtags = language.strip().replace("_", "-").lower().split("-")
    script = next((subtag for subtag in subtags[1:] if len(subtag) == 4 and subtag.isalpha()), None)
    if script is not None:
        return script in RTL_SCRIPTS
    return subtags[0] in RTL_LANGUAGES


def reading_progression(declared: str, languages: tuple[str, ...]) -> str:
    """``ltr`` or ``rtl``: the declared page progression, else the direction of the primary language."""
    if declared in ("ltr", "rtl"):
        return declared
    return "rtl" if languages and is_right_to_left(languages[0]) else "ltr"
