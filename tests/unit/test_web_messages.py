"""The web app has words of its own for every problem type the services answer with (issue 14): a new problem
type without a Vietnamese and an English message fails here, not in front of a reader."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def service_problem_types() -> set[str]:
    found: set[str] = set()
    for folder in (ROOT / "services", ROOT / "libs" / "sachso" / "kit"):
        for path in folder.rglob("*.py"):
            found |= set(re.findall(r'^\s+problem = "([a-z0-9-]+)"', path.read_text(encoding="utf-8"), re.MULTILINE))
    return found


def app_messages(language: str) -> set[str]:
    source = (ROOT / "web" / "src" / "i18n.ts").read_text(encoding="utf-8")
    block = source.split("const problems: Record<Language, Record<string, string>> = {", 1)[1]
    body = block.split(f"\n  {language}: {{", 1)[1].split("\n  },", 1)[0]
    return set(re.findall(r'^\s+"?([a-z0-9-]+)"?: "', body, re.MULTILINE))


def test_every_problem_type_has_a_vietnamese_and_an_english_message() -> None:
    types = service_problem_types()
    assert len(types) > 40  # the scan found the services' errors
    assert types - app_messages("vi") == set()
    assert types - app_messages("en") == set()
