"""Who may change a title's catalogue record (pure)."""

from __future__ import annotations

from lending.domain.stewardship import may_curate_title, title_stewards


def test_staff_curate_a_title_only_when_they_manage_every_library_holding_it() -> None:
    mine = {"buonmathuot", "thpt-bmt"}.__contains__
    assert may_curate_title(title_stewards(["thpt-bmt"], None), mine)
    assert may_curate_title(title_stewards([], "buonmathuot"), mine)
    assert not may_curate_title(title_stewards(["thpt-bmt", "daklak"], None), mine)
    assert not may_curate_title(title_stewards([], None), mine)  # nobody holds it yet: province admins only
