"""Who looks after a title's catalogue record (its metadata and its online-only flag).

A title is one record in the province's shared catalogue; every library that holds a licence for it shows it.
So its stewards are the libraries holding licences for it (and, for a title staff added by hand, the library
that added it until it has licences of its own elsewhere). Staff may change the record only when they manage
*every* steward: a commune librarian never rewrites what the province or a neighbour lends. Province admins
look after every title; a title with no steward (ingested, not yet licensed) is theirs alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def title_stewards(licensed_library_ids: Iterable[str], added_by_library_id: str | None) -> frozenset[str]:
    stewards = set(licensed_library_ids)
    if added_by_library_id:
        stewards.add(added_by_library_id)
    return frozenset(stewards)


def may_curate_title(stewards: frozenset[str], manages: Callable[[str], bool]) -> bool:
    """Whether someone who ``manages`` some libraries may change a title these libraries hold."""
    return bool(stewards) and all(manages(library_id) for library_id in stewards)
