"""Which titles a library's catalogue lists (for its ILS's OPAC and for OAI-PMH sets): those with a licence that
serves the library's patrons and has not ended. A title withdrawn by its publisher is listed nowhere. Changes of
the network (moves, merges, groups) change listings at once and are not dated: after one, harvest in full."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from lending.domain.licensing import License, serves
from lending.domain.network import LibraryNetwork


def licence_listed(license_: License, at: datetime) -> bool:
    ends = license_.terms.expires_at
    return license_.acquired_at <= at and (ends is None or ends > at)


def listed_titles(network: LibraryNetwork, licenses: Iterable[License], library_id: str, at: datetime) -> set[str]:
    """Titles with a licence serving ``library_id``'s patrons at ``at`` (withdrawals are the caller's to remove)."""
    return {
        license_.title_id
        for license_ in licenses
        if licence_listed(license_, at) and serves(network, license_, library_id)
    }


def listing_ended_at(licenses: Iterable[License], title_id: str, at: datetime) -> datetime | None:
    """When the last licence of ``title_id`` among ``licenses`` ended, if all had ended by ``at``."""
    ends = [lic.terms.expires_at for lic in licenses if lic.title_id == title_id]
    if not ends or any(end is None or end > at for end in ends):
        return None
    return max(end for end in ends if end is not None)
