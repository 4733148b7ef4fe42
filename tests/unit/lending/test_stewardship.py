"""Who may change a title's catalogue record, and whether it can be lent (pure)."""

from __future__ import annotations

from lending.domain.stewardship import may_curate_title, title_stewards
from lending.domain.titles import NO_READABLE_PUBLICATION, WITHDRAWN, has_readable_publication, unlendable_reason


def test_staff_curate_a_title_only_when_they_manage_every_library_holding_it() -> None:
    mine = {"buonmathuot", "thpt-bmt"}.__contains__
    assert may_curate_title(title_stewards(["thpt-bmt"], None), mine)
    assert may_curate_title(title_stewards([], "buonmathuot"), mine)
    assert not may_curate_title(title_stewards(["thpt-bmt", "daklak"], None), mine)
    assert not may_curate_title(title_stewards([], None), mine)  # nobody holds it yet: province admins only


def test_only_titles_with_an_ingested_file_are_lendable() -> None:
    assert unlendable_reason("pub-1", True, withdrawn=False) is None
    assert unlendable_reason("staff:abc", False, withdrawn=False) == NO_READABLE_PUBLICATION
    assert unlendable_reason("staff:abc", None, withdrawn=False) == NO_READABLE_PUBLICATION  # older records
    assert unlendable_reason("pub-1", None, withdrawn=False) is None
    assert unlendable_reason("pub-1", True, withdrawn=True) == WITHDRAWN
    assert not has_readable_publication(None, None)
