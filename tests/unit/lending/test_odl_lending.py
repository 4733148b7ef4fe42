"""The ODL lender's use cases on fakes: offers reserve copies, partner checkouts, reading through the lender's DRM,
early return, expiry, and withdrawing an offer while a loan runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lending.domain.licensing import License, LicenseModel, LicenseTerms
from lending.domain.network import Sharing
from lending.errors import NoCopyAvailable
from lending.service_layer.odl_lending import OdlLending
from sachso.kit.errors import Conflict, DependencyUnavailable, NotFound
from tests.unit.lending.odl_fakes import FakeOdlLending, FakeOdlTransactions, FakeStreamingTokens

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LICENCE = License("lic", "kieu", "daklak", Sharing.SUBTREE, LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, 3), NOW)
TITLES = {"kieu": {"_id": "kieu", "title": "Truyện Kiều", "publication_id": "pub-kieu"}}


async def same(secret: str) -> str:
    return secret


async def matches(stored: str | None, secret: str) -> bool:
    return stored == secret


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def repository() -> FakeOdlLending:
    return FakeOdlLending([LICENCE], TITLES)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens() -> FakeStreamingTokens:
    return FakeStreamingTokens(NOW)


@pytest.fixture
async def lending(repository: FakeOdlLending, clock: Clock, tokens: FakeStreamingTokens) -> OdlLending:
    lending = OdlLending(
        FakeOdlTransactions(repository), same, matches, clock, streaming=tokens, reader_url="https://reader.dl/"
    )
    await lending.register_partner("phuyen", "Sách Số Phú Yên", "a partner secret long enough")
    return lending


async def test_a_partner_borrows_reads_and_returns(
    lending: OdlLending, repository: FakeOdlLending, tokens: FakeStreamingTokens
) -> None:
    offer = await lending.make_offer("phuyen", "lic", copies=2, max_loan_days=14)
    assert repository.licences["lic"].in_use == 2  # reserved from the licence
    loan = await lending.checkout("phuyen", offer.id, "c1", "patron-1", None)
    assert await lending.checkout("phuyen", offer.id, "c1", "patron-1", None) == loan  # the same checkout
    assert (loan.due_at, loan.publication_id) == (NOW + timedelta(days=14), "pub-kieu")
    reading = await lending.reading("phuyen", loan.id)
    assert reading.manifest_url == f"https://reader.dl/v1/read/token-{loan.id}/manifest.json"
    assert tokens.issued == [(loan.id, loan.patron_ref, "pub-kieu")]
    assert "patron-1" not in loan.patron_ref  # the lender never learns who she is
    with pytest.raises(NotFound):
        await lending.reading("another-partner", loan.id)
    await lending.return_loan("phuyen", loan.id)
    assert repository.returned_events == [loan.id]  # DRM and the reader end its tokens
    assert repository.offers[offer.id].in_use == 0
    with pytest.raises(Conflict):
        await lending.reading("phuyen", loan.id)


async def test_expiry_gives_the_copy_back(lending: OdlLending, repository: FakeOdlLending, clock: Clock) -> None:
    offer = await lending.make_offer("phuyen", "lic", copies=1, max_loan_days=7)
    await lending.checkout("phuyen", offer.id, "c1", "p", None)
    with pytest.raises(NoCopyAvailable):
        await lending.checkout("phuyen", offer.id, "c2", "q", None)
    clock.now = NOW + timedelta(days=7)
    assert await lending.expire_due() == 1
    assert repository.offers[offer.id].in_use == 0
    assert repository.returned_events == []  # an expiry needs no event: tokens never outlive the loan


async def test_a_withdrawn_offer_lends_no_more_and_its_copies_come_home(
    lending: OdlLending, repository: FakeOdlLending
) -> None:
    offer = await lending.make_offer("phuyen", "lic", copies=2, max_loan_days=14)
    running = await lending.checkout("phuyen", offer.id, "c1", "p", None)
    withdrawn = await lending.withdraw_offer(offer.id)
    assert withdrawn.withdrawn_at == NOW
    assert repository.licences["lic"].in_use == 1  # the free copy is home; the one on loan is not yet
    assert (await lending.withdraw_offer(offer.id)).withdrawn_at == NOW  # twice changes nothing
    assert repository.licences["lic"].in_use == 1
    assert (await lending.offers("phuyen"))[0] == []  # gone from the feed
    with pytest.raises(NoCopyAvailable, match="withdrew"):
        await lending.checkout("phuyen", offer.id, "c2", "q", None)
    assert (await lending.reading("phuyen", running.id)).token  # the running loan is still read
    await lending.return_loan("phuyen", running.id)
    assert repository.licences["lic"].in_use == 0


async def test_no_reading_without_drm_and_reader(repository: FakeOdlLending, clock: Clock) -> None:
    lending = OdlLending(FakeOdlTransactions(repository), same, matches, clock)
    await lending.register_partner("phuyen", "Sách Số Phú Yên", "a partner secret long enough")
    offer = await lending.make_offer("phuyen", "lic", copies=1, max_loan_days=7)
    loan = await lending.checkout("phuyen", offer.id, "c1", "p", None)
    with pytest.raises(DependencyUnavailable):
        await lending.reading("phuyen", loan.id)
