"""The library network: a tree of libraries of any depth, and who may borrow from whose licences.

Since 1 July 2025 Vietnam has no district level of government. A province's network is its provincial library at
the root and, below it at any depth, commune/ward libraries (xã/phường), school, community, private and specialised
libraries (a school library may hang below its commune's library, a reading point below a community library).
Rules of the tree:

- only a provincial library has no parent (a deployment may host several provinces, each a root);
- a provincial library with a parent sits directly below another provincial library: that is how two provinces'
  networks are merged (Phú Yên's library below Đắk Lắk's since the 2025 merger), and every id, card number,
  licence, loan and hold stays as it was;
- ``district`` is kept only to read data written before the reform: no new district library is accepted, and
  ``python -m lending.manage migrate-districts`` turns the existing ones into post-reform kinds.

A licence pool belongs to one library and says whom it serves:

- ``own``: only patrons of the owning library;
- ``subtree``: patrons of the owning library and of every library below it;
- ``group``: patrons of the owning library and of every library in a named group, e.g. "every school library of the
  province" (a group by kind within a scope, so a new school library joins by itself) or a hand-picked list.

A patron's request is served by the *nearest* eligible pool first: her own library's copies, then her parent's, and
so on up to the province; pools shared with her through a group come after her own line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from lending.errors import InvalidNetwork


class LibraryKind(StrEnum):
    PROVINCE = "province"
    COMMUNE = "commune"  # xã, phường, đặc khu: the grassroots level since the 2025 reform
    SCHOOL = "school"
    COMMUNITY = "community"
    PRIVATE = "private"
    SPECIALISED = "specialised"
    DISTRICT = "district"  # before 1 July 2025 only; see migrate-districts


LEGACY_KINDS = frozenset({LibraryKind.DISTRICT})
CURRENT_KINDS = tuple(kind for kind in LibraryKind if kind not in LEGACY_KINDS)


class Sharing(StrEnum):
    OWN = "own"
    SUBTREE = "subtree"
    GROUP = "group"


@dataclass(frozen=True)
class Library:
    id: str
    name: str
    kind: LibraryKind
    parent_id: str | None = None
    auto_approve_cards: bool = False
    code: str = ""  # card number prefix (``DL`` in ``DL-000123``), unique in the network


@dataclass(frozen=True)
class LibraryGroup:
    """Libraries a pool can be shared with: those of ``kinds`` within ``scope_id``'s subtree, plus ``members``."""

    id: str
    name: str
    scope_id: str
    kinds: frozenset[LibraryKind] = field(default_factory=frozenset)
    members: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.kinds and not self.members:
            raise InvalidNetwork(f"group {self.id} names no kind of library and no library")


class LibraryNetwork:
    """An immutable view of the tree and its groups, checked on construction."""

    def __init__(self, libraries: Iterable[Library], groups: Iterable[LibraryGroup] = ()) -> None:
        self._libraries = {library.id: library for library in libraries}
        self._groups = {group.id: group for group in groups}
        for library in self._libraries.values():
            self._check(library)
        for group in self._groups.values():
            self._check_group(group)

    def _check(self, library: Library) -> None:
        if library.parent_id is None:
            if library.kind is not LibraryKind.PROVINCE:
                raise InvalidNetwork(f"{library.id}: only the provincial library of a province has no parent")
            return
        parent = self._libraries.get(library.parent_id)
        if parent is None:
            raise InvalidNetwork(f"{library.id}: parent {library.parent_id} is not in the network")
        if library.kind is LibraryKind.PROVINCE and parent.kind is not LibraryKind.PROVINCE:
            raise InvalidNetwork(
                f"{library.id}: a provincial library sits only below another provincial library (a merged province)"
            )
        seen = {library.id}
        ancestor: Library | None = parent
        while ancestor is not None:
            if ancestor.id in seen:
                raise InvalidNetwork(f"{library.id}: the network would have a loop through {ancestor.id}")
            seen.add(ancestor.id)
            ancestor = self._libraries.get(ancestor.parent_id) if ancestor.parent_id else None

    def _check_group(self, group: LibraryGroup) -> None:
        if group.scope_id not in self._libraries:
            raise InvalidNetwork(f"group {group.id}: scope {group.scope_id} is not in the network")
        unknown = sorted(member for member in group.members if member not in self._libraries)
        if unknown:
            raise InvalidNetwork(f"group {group.id}: {', '.join(unknown)} not in the network")

    # -- reading ---------------------------------------------------------------------------------------------

    def __contains__(self, library_id: object) -> bool:
        return library_id in self._libraries

    @property
    def libraries(self) -> list[Library]:
        return list(self._libraries.values())

    @property
    def groups(self) -> list[LibraryGroup]:
        return list(self._groups.values())

    def get(self, library_id: str) -> Library:
        try:
            return self._libraries[library_id]
        except KeyError:
            raise InvalidNetwork(f"no library {library_id}") from None

    def group(self, group_id: str) -> LibraryGroup:
        try:
            return self._groups[group_id]
        except KeyError:
            raise InvalidNetwork(f"no library group {group_id}") from None

    def roots(self) -> list[Library]:
        return [library for library in self._libraries.values() if library.parent_id is None]

    def children(self, library_id: str) -> list[Library]:
        return [library for library in self._libraries.values() if library.parent_id == library_id]

    def lineage(self, library_id: str) -> list[str]:
        """``library_id`` and its ancestors, nearest first, ending at a root province."""
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

    def group_members(self, group_id: str) -> frozenset[str]:
        """The libraries of a group as the network is now (a new school library is in "every school library")."""
        group = self.group(group_id)
        by_kind = {
            library_id for library_id in self.subtree(group.scope_id) if self._libraries[library_id].kind in group.kinds
        }
        return frozenset(by_kind | group.members)

    # -- sharing ---------------------------------------------------------------------------------------------

    def serves(self, *, owner_id: str, sharing: Sharing, patron_library_id: str, group_id: str | None = None) -> bool:
        """May a patron of ``patron_library_id`` borrow from a pool owned by ``owner_id``?"""
        if patron_library_id == owner_id:
            return True
        if sharing is Sharing.OWN or patron_library_id not in self._libraries:
            return False
        if sharing is Sharing.GROUP:
            return group_id in self._groups and patron_library_id in self.group_members(group_id)
        return self.is_within(patron_library_id, owner_id)

    def preference(self, *, owner_id: str, patron_library_id: str) -> int:
        """0 for the patron's own library's pool, 1 for her parent's, ...; pools shared through a group come after
        her whole line: nearer pools lend first."""
        line = self.lineage(patron_library_id)
        return line.index(owner_id) if owner_id in line else len(line)

    def eligible_owners(self, patron_library_id: str) -> list[str]:
        """Libraries in the patron's own line (her library up to the province), nearest first."""
        return self.lineage(patron_library_id)

    # -- changes (each returns the new, checked network) ------------------------------------------------------

    def with_library(self, library: Library) -> LibraryNetwork:
        if library.id in self._libraries:
            raise InvalidNetwork(f"library {library.id} exists already")
        if library.kind in LEGACY_KINDS:
            raise InvalidNetwork(
                f"{library.id}: there is no {library.kind} level since 1 July 2025; choose one of "
                + ", ".join(CURRENT_KINDS)
            )
        self._ensure_code_free(library.code, library.id)
        return self._with([*self._libraries.values(), library])

    def moved(self, library_id: str, new_parent_id: str) -> LibraryNetwork:
        """``library_id`` and everything below it now hang below ``new_parent_id``."""
        library = self.get(library_id)
        if new_parent_id not in self._libraries:
            raise InvalidNetwork(f"no library {new_parent_id}")
        if self.is_within(new_parent_id, library_id):
            raise InvalidNetwork(f"{library_id} cannot move below itself or a library below it ({new_parent_id})")
        if library.kind is LibraryKind.PROVINCE:
            raise InvalidNetwork(f"{library_id} is a provincial library: merge its province instead of moving it")
        return self._replaced(replace(library, parent_id=new_parent_id))

    def merged(self, absorbed_id: str, surviving_id: str) -> LibraryNetwork:
        """Two provinces become one: ``absorbed_id``'s provincial library and its whole network go below
        ``surviving_id``'s. Card number prefixes must not clash (new cards would collide)."""
        absorbed, surviving = self.get(absorbed_id), self.get(surviving_id)
        for library in (absorbed, surviving):
            if library.kind is not LibraryKind.PROVINCE or library.parent_id is not None:
                raise InvalidNetwork(f"{library.id} is not the provincial library of a province")
        if absorbed_id == surviving_id:
            raise InvalidNetwork("a province cannot merge with itself")
        codes: dict[str, list[str]] = {}
        for library_id in self.subtree(absorbed_id) + self.subtree(surviving_id):
            code = self._libraries[library_id].code.upper()
            if code:
                codes.setdefault(code, []).append(library_id)
        clashes = {code: ids for code, ids in codes.items() if len(ids) > 1}
        if clashes:
            described = "; ".join(f"{code}: {', '.join(sorted(ids))}" for code, ids in sorted(clashes.items()))
            raise InvalidNetwork(f"card number prefixes clash, give these libraries new codes first: {described}")
        return self._replaced(replace(absorbed, parent_id=surviving_id))

    def with_kind(self, library_id: str, kind: LibraryKind) -> LibraryNetwork:
        library = self.get(library_id)
        if kind in LEGACY_KINDS:
            raise InvalidNetwork(f"{kind} is not a library kind since 1 July 2025")
        if (kind is LibraryKind.PROVINCE) != (library.kind is LibraryKind.PROVINCE):
            raise InvalidNetwork(f"{library_id}: a provincial library stays one and no other becomes one")
        return self._replaced(replace(library, kind=kind))

    def with_code(self, library_id: str, code: str) -> LibraryNetwork:
        library = self.get(library_id)
        self._ensure_code_free(code, library_id)
        return self._replaced(replace(library, code=code.upper()))

    def with_group(self, group: LibraryGroup) -> LibraryNetwork:
        return LibraryNetwork(self._libraries.values(), [*(g for g in self.groups if g.id != group.id), group])

    def _ensure_code_free(self, code: str, library_id: str) -> None:
        taken = next((other for other in self._libraries.values() if code and other.code.upper() == code.upper()), None)
        if taken is not None and taken.id != library_id:
            raise InvalidNetwork(f"card number prefix {code.upper()} is taken by {taken.id}")

    def _replaced(self, library: Library) -> LibraryNetwork:
        return self._with([library if other.id == library.id else other for other in self._libraries.values()])

    def _with(self, libraries: Iterable[Library]) -> LibraryNetwork:
        return LibraryNetwork(libraries, self._groups.values())


def district_migration(
    network: LibraryNetwork, kinds: Mapping[str, LibraryKind], default: LibraryKind
) -> dict[str, LibraryKind]:
    """The kind each legacy district library becomes: as named in ``kinds`` (by id), else ``default``. Checked
    against the network (every id named must be a district library; the result must be a valid network)."""
    districts = {library.id for library in network.libraries if library.kind is LibraryKind.DISTRICT}
    strangers = sorted(set(kinds) - districts)
    if strangers:
        raise InvalidNetwork(f"not district libraries: {', '.join(strangers)}")
    plan = {library_id: kinds.get(library_id, default) for library_id in sorted(districts)}
    changed = network
    for library_id, kind in plan.items():
        changed = changed.with_kind(library_id, kind)
    return plan
