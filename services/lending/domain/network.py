"""The library network of a province: a tree of libraries, and who may borrow from whose licences.

The provincial library is the root; district libraries hang below it and school libraries below a district (or
directly below the province). A licence pool belongs to one library and says how far down the tree it is shared:

- ``own``: only patrons of the owning library;
- ``subtree``: patrons of the owning library and of every library below it (the province's pool with this rule
  serves the whole province);

A patron's request is served by the *nearest* eligible pool first: her own library's copies, then her parent's,
and so on up to the province. So a district's own copies serve its patrons first, and the province's shared
pool is what everybody falls back on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from lending.errors import InvalidNetwork


class LibraryKind(StrEnum):
    PROVINCE = "province"
    DISTRICT = "district"
    SCHOOL = "school"


class Sharing(StrEnum):
    OWN = "own"
    SUBTREE = "subtree"


@dataclass(frozen=True)
class Library:
    id: str
    name: str
    kind: LibraryKind
    parent_id: str | None = None
    auto_approve_cards: bool = False


_ALLOWED_PARENTS: Mapping[LibraryKind, frozenset[LibraryKind]] = {
    LibraryKind.PROVINCE: frozenset(),
    LibraryKind.DISTRICT: frozenset({LibraryKind.PROVINCE}),
    LibraryKind.SCHOOL: frozenset({LibraryKind.PROVINCE, LibraryKind.DISTRICT}),
}


class LibraryNetwork:
    """An immutable view of the tree, checked on construction."""

    def __init__(self, libraries: Iterable[Library]) -> None:
        self._libraries = {library.id: library for library in libraries}
        for library in self._libraries.values():
            self._check(library)

    def _check(self, library: Library) -> None:
        if library.parent_id is None:
            if library.kind is not LibraryKind.PROVINCE:
                raise InvalidNetwork(f"{library.id}: only the provincial library has no parent")
            return
        parent = self._libraries.get(library.parent_id)
        if parent is None:
            raise InvalidNetwork(f"{library.id}: parent {library.parent_id} is not in the network")
        if parent.kind not in _ALLOWED_PARENTS[library.kind]:
            raise InvalidNetwork(f"{library.id}: a {library.kind} library cannot sit below a {parent.kind} library")

    def __contains__(self, library_id: object) -> bool:
        return library_id in self._libraries

    def get(self, library_id: str) -> Library:
        try:
            return self._libraries[library_id]
        except KeyError:
            raise InvalidNetwork(f"no library {library_id}") from None

    def with_library(self, library: Library) -> LibraryNetwork:
        if library.id in self._libraries:
            raise InvalidNetwork(f"library {library.id} exists already")
        return LibraryNetwork([*self._libraries.values(), library])

    def lineage(self, library_id: str) -> list[str]:
        """``library_id`` and its ancestors, nearest first, ending at the province."""
        chain = [library_id]
        parent = self.get(library_id).parent_id
        while parent is not None:
            chain.append(parent)
            parent = self._libraries[parent].parent_id
        return chain

    def is_within(self, library_id: str, root_id: str) -> bool:
        """True when ``library_id`` is ``root_id`` or below it."""
        return root_id in self.lineage(library_id)

    def subtree(self, root_id: str) -> list[str]:
        return [library_id for library_id in self._libraries if self.is_within(library_id, root_id)]

    def serves(self, *, owner_id: str, sharing: Sharing, patron_library_id: str) -> bool:
        """May a patron of ``patron_library_id`` borrow from a pool owned by ``owner_id``?"""
        if sharing is Sharing.OWN:
            return patron_library_id == owner_id
        return self.is_within(patron_library_id, owner_id)

    def preference(self, *, owner_id: str, patron_library_id: str) -> int:
        """0 for the patron's own library's pool, 1 for her parent's, ...: nearer pools lend first."""
        return self.lineage(patron_library_id).index(owner_id)

    def eligible_owners(self, patron_library_id: str) -> list[str]:
        """Libraries whose pools may serve this patron (sharing permitting), nearest first."""
        return self.lineage(patron_library_id)
