"""Hold queue, reader cards, loan policy and Vietnamese search terms."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lending.domain import holds as queue_rules
from lending.domain.holds import Hold, HoldState
from lending.domain.patrons import CardStatus, Patron, Verification, after_verification, card_number, hash_code
from lending.domain.policy import LendingPolicy
from lending.domain.search import fold, normalize_isbn, search_terms, words
from lending.errors import ApplicationStateError, CardCannotBorrow, LoanPeriodNotAllowed, VerificationFailed

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def hold(index: int, **changes: object) -> Hold:
    base = Hold(f"h{index}", f"p{index}", "daklak", "t1", placed_at=NOW + timedelta(minutes=index))
    return replace(base, **changes)  # type: ignore[arg-type]


def test_positions_count_suspended_holds_but_not_ready_ones() -> None:
    holds = [hold(1, state=HoldState.READY), hold(2, suspended_until=NOW + timedelta(days=3)), hold(3), hold(4)]
    assert [queue_rules.position(holds, h) for h in holds] == [0, 1, 2, 3]


def test_next_in_line_skips_suspended_and_ineligible_holds() -> None:
    holds = [hold(1, suspended_until=NOW + timedelta(days=1)), hold(2), hold(3)]
    assert queue_rules.next_in_line(holds, NOW, lambda h: True) == holds[1]
    assert queue_rules.next_in_line(holds, NOW, lambda h: h.id != "h2") == holds[2]
    assert queue_rules.next_in_line(holds, NOW + timedelta(days=2), lambda h: True) == holds[0]  # back in line
    assert queue_rules.next_in_line([], NOW, lambda h: True) is None


def test_estimated_wait() -> None:
    two_weeks = timedelta(days=14)
    assert queue_rules.estimated_wait(1, 2, two_weeks) == two_weeks
    assert queue_rules.estimated_wait(3, 2, two_weeks) == 2 * two_weeks
    assert queue_rules.estimated_wait(5, None, two_weeks) == timedelta(0)
    assert queue_rules.estimated_wait(1, 0, two_weeks) is None


@given(
    arrivals=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=40),
    suspended=st.sets(st.integers(min_value=0, max_value=39)),
)
def test_serving_the_queue_never_skips_or_duplicates_a_patron(arrivals: list[int], suspended: set[int]) -> None:
    """Freeing copies one by one serves every non-suspended hold once, in arrival order."""
    holds = [
        Hold(
            f"h{index:03d}",
            f"p{index}",
            "daklak",
            "t1",
            placed_at=NOW + timedelta(seconds=offset),
            suspended_until=NOW + timedelta(days=1) if index in suspended else None,
        )
        for index, offset in enumerate(arrivals)
    ]
    served: list[Hold] = []
    while (chosen := queue_rules.next_in_line(holds, NOW, lambda h: True)) is not None:
        served.append(chosen)
        holds = [replace(h, state=HoldState.READY) if h.id == chosen.id else h for h in holds]
    expected = sorted((h for h in holds if h.suspended_until is None), key=Hold.queue_key)
    assert [h.id for h in served] == [h.id for h in expected]
    assert len({h.patron_id for h in served}) == len(served)
    positions = [queue_rules.position(holds, h) for h in queue_rules.queue(holds)]
    assert positions == list(range(1, len(positions) + 1))


def patron(**changes: object) -> Patron:
    base = Patron("p1", "daklak", "Nguyễn Văn A", "a@example.vn", "vi", CardStatus.ACTIVE, "DL-000001",
                  NOW + timedelta(days=30))  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"status": CardStatus.BLOCKED}, "blocked"),
        ({"status": CardStatus.PENDING_APPROVAL}, "not been approved"),
        ({"card_expires_at": NOW}, "expired"),
    ],
)
def test_cards_that_cannot_borrow(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(CardCannotBorrow, match=reason):
        patron(**changes).ensure_can_borrow(NOW)
    patron().ensure_can_borrow(NOW)


def test_verification_codes() -> None:
    verification = Verification(hash_code("p1", "123456"), NOW + timedelta(minutes=15))
    verification.check("p1", " 123456 ", NOW)
    with pytest.raises(VerificationFailed, match="wrong"):
        verification.check("p1", "654321", NOW)
    with pytest.raises(VerificationFailed, match="wrong"):
        verification.check("p2", "123456", NOW)  # the code of another applicant
    with pytest.raises(VerificationFailed, match="expired"):
        verification.check("p1", "123456", NOW + timedelta(minutes=15))
    with pytest.raises(VerificationFailed, match="too many"):
        replace(verification, attempts=5).check("p1", "123456", NOW)


def test_application_states() -> None:
    assert after_verification(CardStatus.PENDING_VERIFICATION, auto_approve=False) is CardStatus.PENDING_APPROVAL
    assert after_verification(CardStatus.PENDING_VERIFICATION, auto_approve=True) is CardStatus.ACTIVE
    with pytest.raises(ApplicationStateError):
        after_verification(CardStatus.ACTIVE, auto_approve=True)
    assert card_number("dl", 123) == "DL-000123"


def test_loan_periods_within_policy() -> None:
    policy = LendingPolicy()
    assert policy.period(None) == timedelta(days=14)
    assert policy.due_at(NOW, timedelta(days=7)) == NOW + timedelta(days=7)
    with pytest.raises(LoanPeriodNotAllowed, match="10 days is not offered; choose one of 7 days, 14 days, 21 days"):
        policy.period(timedelta(days=10))


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("dak lak", "Đắk Lắk"),
        ("nguyen", "Nguyễn Du"),
        ("NGUYỄN", "nguyen du"),
        ("truyen kieu", "Truyện Kiều"),
        ("duong", "Đường"),
        ("thuy", "Thụy"),
    ],
)
def test_diacritic_insensitive_words(query: str, text: str) -> None:
    assert set(words(query)) <= set(search_terms(text))


def test_folding_keeps_words_apart() -> None:
    assert fold("Đắk Lắk") == "dak lak"
    assert search_terms("Truyện Kiều", ["Nguyễn Du", "Nguyễn Du"]) == ["truyen", "kieu", "nguyen", "du"]
    assert normalize_isbn("978-604-1-08525-3") == "9786041085253"
