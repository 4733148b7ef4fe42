"""Open Distribution to Libraries (ODL 1.0) between two Sách Số deployments, without I/O.

The *lending* deployment offers a partner deployment some copies of one of its licences (an **offer**: ``copies``
readers at once, loans up to ``max_loan_days``), reserved from the licence when the offer is made so its own patrons
and the partner's never compete for them. It publishes the offers in an OPDS 2.0 feed with ODL ``licenses``; the
partner checks a copy out for one of its patrons (``checkout_id`` is the partner's loan id, so a retried checkout is
the same checkout), follows the loan's License Status Document, returns it early, or lets it expire.

The *borrowing* deployment mirrors each offer as a local licence of one of its libraries and circulates it like any
other (holds, limits, reports); a relay checks each of those loans out at the lender and returns it when it ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sachso.kit.errors import InvalidInput

OPDS = "application/opds+json"
ODL_INFO = "application/vnd.odl.info+json"
STATUS_DOCUMENT = "application/vnd.readium.license.status.v1.0+json"
LCP_LICENSE = "application/vnd.readium.lcp.license.v1.0+json"
BORROW = "http://opds-spec.org/acquisition/borrow"
CHECKOUT_TEMPLATE = "{?id,checkout_id,expires,patron_id,notification_url}"
STREAMING = "https://sachso.vn/rel/streaming"  # our extension: a streaming token for the loan, read in a browser
PARTNER_ACTIVE = "odl-active"  # a partner loan's status in the lender's loans: not "active", so lending's due
# watcher and patron views leave it alone (its own expiry, :meth:`OdlLending.expire_due`, ends it)


@dataclass(frozen=True)
class Offer:
    id: str
    partner_id: str
    title_id: str
    license_id: str
    copies: int
    max_loan_days: int
    created_at: datetime
    in_use: int = 0
    ends_at: datetime | None = None  # the licence's own end
    withdrawn_at: datetime | None = None  # no new loans since; the ones running end as they would have

    def __post_init__(self) -> None:
        if self.copies < 1 or self.max_loan_days < 1:
            raise InvalidInput("an offer lends at least one copy for at least one day")

    def available(self, now: datetime) -> int:
        if self.withdrawn_at is not None or (self.ends_at is not None and self.ends_at <= now):
            return 0
        return max(0, self.copies - self.in_use)

    def copies_to_release(self) -> int:
        """What withdrawing the offer gives back to the licence at once: the copies not on loan (each one on
        loan goes back when its loan ends)."""
        return 0 if self.withdrawn_at is not None else max(0, self.copies - self.in_use)

    def due(self, now: datetime, requested: datetime | None) -> datetime:
        """The loan's end: what the partner asked, within the offer's longest loan and the licence's end."""
        longest = now + timedelta(days=self.max_loan_days)
        due = min(requested, longest) if requested is not None else longest
        if self.ends_at is not None:
            due = min(due, self.ends_at)
        if due <= now:
            raise InvalidInput("the loan would end before it starts")
        return due


@dataclass(frozen=True)
class PartnerLoan:
    """A loan the lending deployment made to a partner's patron."""

    id: str
    partner_id: str
    offer_id: str
    checkout_id: str
    title_id: str
    starts_at: datetime
    due_at: datetime
    status: str  # active, returned, expired
    ended_at: datetime | None = None
    patron_ref: str = ""  # the partner's patron as the lender records her (opaque)
    publication_id: str = ""  # what she reads


@dataclass(frozen=True)
class PartnerReading:
    """What a partner's patron reads with: a streaming token of the lender's DRM for the partner loan, and the
    lender's reader address for it (the token is refused there once the loan ends, and never outlives it)."""

    loan_id: str
    token: str
    expires_at: datetime
    manifest_url: str


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


MESSAGES = {"active": "The loan is active.", "returned": "The loan was returned.", "expired": "The loan ended."}


def status_document(loan: PartnerLoan, base: str) -> dict[str, Any]:
    """The loan's License Status Document (Readium LSD 1.0) as ODL's checkout answers it. It has no ``license``
    link: the LCP licence of a partner loan is not issued yet (see the README)."""
    links: list[dict[str, Any]] = [
        {"rel": "self", "href": f"{base}/odl/loans/{loan.id}/status", "type": STATUS_DOCUMENT}
    ]
    if loan.status == "active":
        links.append({"rel": "return", "href": f"{base}/odl/loans/{loan.id}/return", "type": STATUS_DOCUMENT})
        links.append({"rel": STREAMING, "href": f"{base}/odl/loans/{loan.id}/streaming", "type": "application/json"})
    return {
        "id": loan.id,
        "status": loan.status,
        "message": MESSAGES[loan.status],
        "updated": {"license": _iso(loan.starts_at), "status": _iso(loan.ended_at or loan.starts_at)},
        "links": links,
        "potential_rights": {"end": _iso(loan.due_at)},
        "events": [
            {"type": "register", "name": loan.partner_id, "id": loan.checkout_id, "timestamp": _iso(loan.starts_at)}
        ],
    }


def license_info(offer: Offer, now: datetime) -> dict[str, Any]:
    """ODL's License Info Document for an offer (a withdrawn one is ``unavailable``: no new checkouts)."""
    available = offer.available(now)
    terms: dict[str, Any] = {"concurrency": offer.copies, "length": offer.max_loan_days * 86400}
    if offer.ends_at is not None:
        terms["expires"] = _iso(offer.ends_at)
    return {
        "identifier": offer.id,
        "status": "available" if available else "unavailable",
        "checkouts": {"available": available},
        "terms": terms,
        "format": ["application/epub+zip"],
        "created": _iso(offer.created_at),
    }


def feed_publication(offer: Offer, title: Mapping[str, Any], base: str, now: datetime) -> dict[str, Any]:
    """One publication of the ODL feed: its metadata and its offer as an ODL licence."""
    info = license_info(offer, now)
    metadata: dict[str, Any] = {
        "@type": "http://schema.org/Book",
        "identifier": f"urn:uuid:{title['_id']}",
        "title": title.get("title", ""),
        "author": [{"name": name} for name in title.get("authors", [])],
        "language": title.get("language", "und"),
    }
    for key in ("subtitle", "description", "publisher"):
        if title.get(key):
            metadata[key] = title[key]
    if title.get("isbn"):
        metadata["isbn"] = title["isbn"]
    if title.get("subjects"):
        metadata["subject"] = [{"name": name} for name in title["subjects"]]
    borrow = {
        "rel": BORROW,
        "href": f"{base}/odl/offers/{offer.id}/checkout{CHECKOUT_TEMPLATE}",
        "type": STATUS_DOCUMENT,
        "templated": True,
    }
    info_link = {"rel": "self", "href": f"{base}/odl/offers/{offer.id}", "type": ODL_INFO}
    return {
        "metadata": metadata,
        "links": [info_link, borrow],  # OPDS 2.0 wants an acquisition link on the publication itself
        "licenses": [
            {
                "metadata": {
                    "identifier": offer.id,
                    "format": info["format"],
                    "created": info["created"],
                    "terms": info["terms"],
                    "protection": {"format": [LCP_LICENSE]},
                },
                "links": [borrow, info_link],
            }
        ],
    }


def expand_checkout(template: str, values: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The checkout URL of an ODL licence (RFC 6570 form-style query): the path, and the query it asks for."""
    path, _, expression = template.partition("{?")
    names = [name.strip() for name in expression.rstrip("}").split(",") if name.strip()]
    return path, {name: values[name] for name in names if name in values}


@dataclass(frozen=True)
class OfferedLicence:
    """An offer as the borrowing deployment reads it from the lender's feed."""

    offer_id: str
    title: Mapping[str, Any]
    copies: int
    max_loan_seconds: int
    expires: datetime | None
    checkout_template: str


def offered_licences(feed: Mapping[str, Any]) -> list[OfferedLicence]:
    """Every ODL licence of a feed that this deployment can circulate (LCP, a concurrency, a checkout link)."""
    found = []
    for publication in feed.get("publications", []):
        for licence in publication.get("licenses", []):
            terms = licence.get("metadata", {}).get("terms", {})
            borrow = next((link for link in licence.get("links", []) if link.get("rel") == BORROW), None)
            if borrow is None or not isinstance(terms.get("concurrency"), int) or terms["concurrency"] < 1:
                continue
            expires = terms.get("expires")
            found.append(
                OfferedLicence(
                    offer_id=str(licence["metadata"]["identifier"]),
                    title=publication.get("metadata", {}),
                    copies=terms["concurrency"],
                    max_loan_seconds=int(terms.get("length") or 0),
                    expires=datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None,
                    checkout_template=str(borrow["href"]),
                )
            )
    return found
