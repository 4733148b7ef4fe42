"""Lending's loan rules as pure functions: may-borrow, the loan limit, due dates, renewal, auto-checkout."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lending.domain import loans
from lending.domain.licensing import License, LicenseModel, LicenseTerms
from lending.domain.loans import LendableTitle, Loan
from lending.domain.network import Sharing
from lending.domain.patrons import CardStatus, Patron
from lending.domain.policy import LendingPolicy
from lending.errors import AlreadyBorrowed, LoanLimitReached, TitleNotFound, TitleNotLendable

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POLICY = LendingPolicy(max_loans=2, max_renewals=1)
ANA = Patron("ana", "daklak", "Ana", "ana@example.vn", "vi", CardStatus.ACTIVE)


def licence(expires_at: datetime | None = None) -> License:
    model = LicenseModel.TIME_LIMITED if expires_at else LicenseModel.ONE_COPY_ONE_USER
    return License("lic", "kieu", "daklak", Sharing.SUBTREE, LicenseTerms(model, 1, None, expires_at), NOW)


def loan(**changes: Any) -> Loan:
    base = Loan("l1", "ana", "daklak", "kieu", "pub", "lic", NOW, NOW + timedelta(days=14), 0, loans.ACTIVE)
    return replace(base, **changes)


def test_may_borrow_until_the_limit_and_once_per_title() -> None:
    loans.ensure_may_borrow(["a"], "b", POLICY.max_loans)
    with pytest.raises(AlreadyBorrowed):
        loans.ensure_may_borrow(["a"], "a", POLICY.max_loans)
    with pytest.raises(LoanLimitReached):
        loans.ensure_may_borrow(["a", "b"], "c", POLICY.max_loans)


def test_only_readable_titles_are_lent() -> None:
    assert loans.ensure_lendable(LendableTitle("kieu", "pub-1"), "kieu").id == "kieu"
    with pytest.raises(TitleNotFound):
        loans.ensure_lendable(None, "kieu")
    with pytest.raises(TitleNotFound):
        loans.ensure_lendable(LendableTitle("kieu", "pub-1", withdrawn=True), "kieu")
    with pytest.raises(TitleNotLendable):
        loans.ensure_lendable(LendableTitle("kieu", "staff:1"), "kieu")


def test_due_date_is_the_period_capped_by_the_licence() -> None:
    assert loans.due_at(POLICY, licence(), NOW, timedelta(days=7)) == NOW + timedelta(days=7)
    assert loans.due_at(POLICY, licence(NOW + timedelta(days=2)), NOW, None) == NOW + timedelta(days=2)


@pytest.mark.parametrize(
    ("case", "kwargs", "refusal"),
    [
        ("ended", {"loan": loan(status=loans.RETURNED)}, "the loan has ended"),
        ("no card", {"patron": None}, "no reader card"),
        ("limit", {"loan": loan(renewals=1)}, "renewed 1 times"),
        ("licence gone", {"license_": None}, "licence behind this loan is gone"),
        ("someone waits", {"others_waiting": True}, "other readers are waiting"),
        ("licence ends", {"license_": licence(NOW + timedelta(days=14))}, "ends before a renewal"),
    ],
)
def test_renewal_refusals(case: str, kwargs: dict[str, object], refusal: str) -> None:
    arguments: dict[str, object] = {
        "loan": loan(),
        "patron": ANA,
        "policy": POLICY,
        "license_": licence(),
        "others_waiting": False,
        "now": NOW,
    }
    arguments.update(kwargs)
    outcome = loans.renewal(**arguments)  # type: ignore[arg-type]
    assert outcome.due_at is None
    assert refusal in outcome.refusal, case


def test_renewal_adds_the_default_period_from_the_later_of_now_and_the_due_date() -> None:
    outcome = loans.renewal(loan(), patron=ANA, policy=POLICY, license_=licence(), others_waiting=False, now=NOW)
    assert outcome.due_at == NOW + timedelta(days=14) + POLICY.default_period


def test_auto_checkout_needs_a_card_that_may_borrow_and_room_under_the_limit() -> None:
    assert loans.may_auto_checkout(ANA, 1, POLICY, NOW)
    assert not loans.may_auto_checkout(ANA, 2, POLICY, NOW)
    assert not loans.may_auto_checkout(None, 0, POLICY, NOW)
    blocked = Patron("b", "daklak", "B", "b@example.vn", "vi", CardStatus.BLOCKED)
    assert not loans.may_auto_checkout(blocked, 0, POLICY, NOW)


def test_a_loan_is_due_at_its_due_time() -> None:
    assert not loans.is_due(loan(), NOW)
    assert loans.is_due(loan(), NOW + timedelta(days=14))
    assert not loans.is_due(loan(status=loans.EXPIRED), NOW + timedelta(days=30))
