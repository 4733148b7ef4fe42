"""The ODL borrower's use cases on fakes: mirroring a feed (and ending withdrawn offers), reading a loan of a
mirrored licence through the lender (checked out there first if the relay has not yet), refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lending.domain import odl
from lending.domain.odl import Offer
from lending.service_layer.odl_borrowing import LoanAtLender, OdlBorrowing, OdlSource, PendingCheckout
from sachso.kit.errors import Conflict, NotFound
from tests.unit.lending.odl_fakes import FakeBorrowing, FakeLender

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SOURCE = OdlSource("daklak", "https://daklak.test/odl/feed", "phuyen", "secret", "phuyen")
OFFER = Offer("o1", "phuyen", "kieu", "lic", copies=2, max_loan_days=14, created_at=NOW)
TITLE = {"_id": "kieu", "title": "Truyện Kiều", "authors": [], "language": "vi"}


Parts = tuple[OdlBorrowing, FakeBorrowing, FakeLender]


def feed(*offers: Offer) -> dict[str, object]:
    return {"publications": [odl.feed_publication(offer, TITLE, "https://daklak.test", NOW) for offer in offers]}


async def no_local_loan_end(loan_id: str) -> None:
    ended.append(loan_id)


ended: list[str] = []


def borrowed(loan_id: str, patron_id: str = "lan") -> LoanAtLender:
    pending = PendingCheckout(loan_id, patron_id, NOW + timedelta(days=7), "daklak", "https://daklak.test/x{?id}")
    return LoanAtLender(loan_id, patron_id, True, "daklak", "", "", pending)


@pytest.fixture
def parts() -> tuple[OdlBorrowing, FakeBorrowing, FakeLender]:
    ended.clear()
    repository, lender = FakeBorrowing({"phuyen"}), FakeLender(feed(OFFER), NOW)
    return OdlBorrowing({"daklak": SOURCE}, repository, lender, no_local_loan_end, lambda: NOW), repository, lender


async def test_sync_mirrors_offers_and_ends_withdrawn_ones(
    parts: Parts,
) -> None:
    borrowing, repository, lender = parts
    report = await borrowing.sync("daklak")
    assert (report.offers, report.new, report.withdrawn) == (1, 1, 0)
    assert (await borrowing.sync("daklak")).new == 0
    lender.feed_document = feed()  # Đắk Lắk withdrew it
    assert (await borrowing.sync("daklak")).withdrawn == 1
    assert repository.retired == {"o1"}
    with pytest.raises(NotFound):
        await borrowing.sync("nowhere")


async def test_reading_checks_a_new_loan_out_first(parts: Parts) -> None:
    borrowing, repository, lender = parts
    repository.loans["l1"] = borrowed("l1")
    reading = await borrowing.reading("lan", "l1")
    assert (reading.loan_id, lender.checkouts) == ("r-l1", ["l1"])
    assert await borrowing.relay_once() == 0  # nothing left for the relay
    assert (await borrowing.reading("lan", "l1")).token == "token-r-l1"
    assert lender.checkouts == ["l1"]  # checked out once
    with pytest.raises(NotFound):
        await borrowing.reading("minh", "l1")  # not her loan
    with pytest.raises(NotFound):
        await borrowing.reading("lan", "local-loan")


async def test_a_refused_checkout_ends_the_local_loan(parts: Parts) -> None:
    borrowing, repository, lender = parts
    repository.loans["l2"] = borrowed("l2")
    lender.refuse = "409: the lender withdrew this offer"
    with pytest.raises(Conflict):
        await borrowing.reading("lan", "l2")
    assert ended == ["l2"]
    assert "withdrew" in repository.refusals["l2"]
