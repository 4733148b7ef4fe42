"""ODL documents between deployments, without servers: what the lender publishes is what the borrower reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lending.domain import odl
from lending.domain.odl import Offer, PartnerLoan
from sachso.kit.errors import InvalidInput

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OFFER = Offer("o1", "phuyen", "t1", "l1", copies=2, max_loan_days=14, created_at=NOW, ends_at=NOW + timedelta(days=30))


def test_the_borrower_reads_the_lenders_feed() -> None:
    title = {"_id": "t1", "title": "Truyện Kiều", "authors": ["Nguyễn Du"], "language": "vi", "subjects": ["Thơ"]}
    feed = {"publications": [odl.feed_publication(OFFER, title, "https://daklak.test", NOW)]}
    (offered,) = odl.offered_licences(feed)
    assert (offered.offer_id, offered.copies, offered.max_loan_seconds) == ("o1", 2, 14 * 86400)
    assert offered.expires == NOW + timedelta(days=30)
    assert offered.title["title"] == "Truyện Kiều"
    url, query = odl.expand_checkout(offered.checkout_template, {"checkout_id": "c1", "patron_id": "p", "other": "x"})
    assert url == "https://daklak.test/odl/offers/o1/checkout"
    assert query == {"checkout_id": "c1", "patron_id": "p"}
    assert odl.offered_licences({"publications": [{"licenses": [{"metadata": {"terms": {}}, "links": []}]}]}) == []


def test_offers_count_copies_and_cap_loans() -> None:
    assert OFFER.available(NOW) == 2
    assert Offer(**{**OFFER.__dict__, "in_use": 2}).available(NOW) == 0
    assert OFFER.available(NOW + timedelta(days=31)) == 0  # the licence ended
    assert OFFER.due(NOW, None) == NOW + timedelta(days=14)
    assert OFFER.due(NOW, NOW + timedelta(days=3)) == NOW + timedelta(days=3)
    assert OFFER.due(NOW, NOW + timedelta(days=60)) == NOW + timedelta(days=14)
    with pytest.raises(InvalidInput):
        OFFER.due(NOW, NOW - timedelta(days=1))
    with pytest.raises(InvalidInput):
        Offer("o", "p", "t", "l", copies=0, max_loan_days=1, created_at=NOW)


def test_status_documents() -> None:
    loan = PartnerLoan("a1", "phuyen", "o1", "c1", "t1", NOW, NOW + timedelta(days=14), "active")
    document = odl.status_document(loan, "https://daklak.test")
    assert document["status"] == "active"
    assert {link["rel"] for link in document["links"]} == {"self", "return", odl.STREAMING}
    assert document["potential_rights"] == {"end": "2026-12-15T09:00:00Z"}
    ended = odl.status_document(PartnerLoan(**{**loan.__dict__, "status": "returned", "ended_at": NOW}), "https://x")
    assert [link["rel"] for link in ended["links"]] == ["self"]
    info = odl.license_info(OFFER, NOW)
    assert (info["status"], info["checkouts"]) == ("available", {"available": 2})


def test_a_withdrawn_offer_lends_no_more_and_gives_its_free_copies_back() -> None:
    busy = Offer(**{**OFFER.__dict__, "in_use": 1})
    assert busy.copies_to_release() == 1  # the copy on loan goes back when its loan ends
    withdrawn = Offer(**{**busy.__dict__, "withdrawn_at": NOW})
    assert withdrawn.available(NOW) == 0
    assert withdrawn.copies_to_release() == 0  # released once, when it was withdrawn
    assert odl.license_info(withdrawn, NOW)["status"] == "unavailable"
