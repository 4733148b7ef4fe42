"""Changing the library network: move a library, merge two provinces, migrate pre-reform districts, card number
prefixes, library groups and with whom a licence pool is shared.

Each use case reads the network inside its transaction, asks the domain (:mod:`lending.domain.network`) for the
changed network — which refuses anything that breaks the tree — and writes only what changed, with an entry in the
network's change log. Ids never change, so cards, card numbers, licence pools, loans and holds keep working, and
reports (counted by the library ids recorded on each loan and hold) keep their history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from lending.domain.licensing import License
from lending.domain.network import (
    Library,
    LibraryGroup,
    LibraryKind,
    LibraryNetwork,
    Sharing,
    district_migration,
)
from lending.errors import InvalidNetwork, LibraryNotFound
from lending.service_layer.clock import Clock, system_clock
from sachso.kit.errors import Forbidden, NotFound, PreconditionFailed

T = TypeVar("T")


@dataclass(frozen=True)
class NetworkChange:
    """One entry of the change log: what changed, when and by whom."""

    at: datetime
    action: str  # moved, merged, kind-migrated, code-changed, group-defined, group-removed, pool-shared
    subject_id: str
    by: str
    detail: Mapping[str, Any] = field(default_factory=dict)


class NetworkRepository(Protocol):
    """What the network's use cases read and write, inside one transaction."""

    async def network(self) -> LibraryNetwork: ...

    async def save_library(self, library: Library) -> None:
        """Store a library's place, kind and code (the library exists)."""

    async def save_group(self, group: LibraryGroup) -> None: ...

    async def remove_group(self, group_id: str) -> None: ...

    async def pools_shared_with(self, group_id: str) -> int: ...

    async def license(self, license_id: str) -> License | None: ...

    async def share_license(self, license_id: str, sharing: Sharing, group_id: str | None) -> None: ...

    async def record_change(self, change: NetworkChange) -> None: ...

    async def changes(self, limit: int) -> list[NetworkChange]: ...

    async def merge_agreed_by(self, absorbed_id: str, surviving_id: str) -> set[str]:
        """The provinces whose admins agreed to this merge (``merge-agreed`` entries of the change log)."""


class NetworkTransactions(Protocol):
    """Runs ``work`` on a repository in one transaction (retried as a whole on a write conflict)."""

    async def run(self, work: Callable[[NetworkRepository], Awaitable[T]]) -> T: ...


class NetworkAdmin:
    def __init__(self, transactions: NetworkTransactions, clock: Clock = system_clock) -> None:
        self.transactions = transactions
        self.clock = clock

    async def network(self) -> LibraryNetwork:
        return await self.transactions.run(lambda repository: repository.network())

    async def changes(self, limit: int = 200) -> list[NetworkChange]:
        return await self.transactions.run(lambda repository: repository.changes(limit))

    async def move_library(self, library_id: str, new_parent_id: str, *, by: str) -> Library:
        """``library_id`` with everything below it now hangs below ``new_parent_id``."""

        async def work(repository: NetworkRepository) -> Library:
            network = await repository.network()
            before = _existing(network, library_id)
            moved = network.moved(library_id, new_parent_id).get(library_id)
            await repository.save_library(moved)
            await self._log(repository, "moved", library_id, by, {"from": before.parent_id, "to": new_parent_id})
            return moved

        return await self.transactions.run(work)

    async def merge_provinces(
        self, absorbed_id: str, surviving_id: str, *, by: str, for_province: str | None = None
    ) -> Library | None:
        """Two provinces become one (Phú Yên into Đắk Lắk, 2025): the absorbed province's network goes below the
        surviving provincial library; pools shared with the surviving province's subtree now serve both.

        An operator (``for_province`` None: the management command) merges at once. Over HTTP each province's
        admin agrees for her own province (``for_province``): the first agreement is recorded and answers None; the
        merge happens when the other province's admin agrees too — neither province can absorb or give away the
        other alone."""

        async def work(repository: NetworkRepository) -> Library | None:
            network = await repository.network()
            _existing(network, absorbed_id)
            _existing(network, surviving_id)
            merged = network.merged(absorbed_id, surviving_id)  # refuses a merge that cannot happen, before agreeing
            if for_province is not None:
                if for_province not in (absorbed_id, surviving_id):
                    raise Forbidden("only the admins of the two provinces agree to their merge")
                # both admins agreeing at once: each writes the absorbed library, so one transaction conflicts,
                # runs again, and sees the other's agreement
                await repository.save_library(network.get(absorbed_id))
                agreed = await repository.merge_agreed_by(absorbed_id, surviving_id)
                if for_province not in agreed:
                    detail = {"into": surviving_id, "province": for_province}
                    await self._log(repository, "merge-agreed", absorbed_id, by, detail)
                if agreed | {for_province} != {absorbed_id, surviving_id}:
                    return None
            absorbed = merged.get(absorbed_id)
            await repository.save_library(absorbed)
            await self._log(repository, "merged", absorbed_id, by, {"into": surviving_id})
            return absorbed

        return await self.transactions.run(work)

    async def migrate_districts(
        self,
        kinds: Mapping[str, LibraryKind],
        default: LibraryKind = LibraryKind.COMMUNE,
        *,
        by: str,
        dry_run: bool = False,
    ) -> dict[str, LibraryKind]:
        """Every pre-reform district library becomes the kind named for it (else ``default``); it keeps its id,
        place, card numbers, pools, loans and holds. Returns the plan (applied unless ``dry_run``)."""

        async def work(repository: NetworkRepository) -> dict[str, LibraryKind]:
            network = await repository.network()
            plan = district_migration(network, kinds, default)
            if dry_run:
                return plan
            for library_id, kind in plan.items():
                network = network.with_kind(library_id, kind)
                await repository.save_library(network.get(library_id))
                await self._log(repository, "kind-migrated", library_id, by, {"from": "district", "to": kind.value})
            return plan

        return await self.transactions.run(work)

    async def set_code(self, library_id: str, code: str, *, by: str) -> Library:
        """A new card number prefix for the library's new cards (issued cards keep their numbers)."""

        async def work(repository: NetworkRepository) -> Library:
            network = await repository.network()
            before = _existing(network, library_id)
            changed = network.with_code(library_id, code).get(library_id)
            await repository.save_library(changed)
            await self._log(repository, "code-changed", library_id, by, {"from": before.code, "to": changed.code})
            return changed

        return await self.transactions.run(work)

    async def define_group(self, group: LibraryGroup, *, by: str) -> LibraryGroup:
        """Create or change a named group of libraries that pools can be shared with."""

        async def work(repository: NetworkRepository) -> LibraryGroup:
            (await repository.network()).with_group(group)  # refuses unknown libraries
            await repository.save_group(group)
            detail = {"kinds": sorted(group.kinds), "members": sorted(group.members), "scope": group.scope_id}
            await self._log(repository, "group-defined", group.id, by, detail)
            return group

        return await self.transactions.run(work)

    async def remove_group(self, group_id: str, *, by: str) -> None:
        async def work(repository: NetworkRepository) -> None:
            network = await repository.network()
            if group_id not in {group.id for group in network.groups}:
                raise NotFound(f"no library group {group_id}")
            shared = await repository.pools_shared_with(group_id)
            if shared:
                raise PreconditionFailed(
                    f"{shared} licence pools are shared with group {group_id}; share them otherwise first"
                )
            await repository.remove_group(group_id)
            await self._log(repository, "group-removed", group_id, by, {})

        await self.transactions.run(work)

    async def group(self, group_id: str) -> LibraryGroup:
        network = await self.network()
        if group_id not in {group.id for group in network.groups}:
            raise NotFound(f"no library group {group_id}")
        return network.group(group_id)

    async def license(self, license_id: str) -> License:
        found = await self.transactions.run(lambda repository: repository.license(license_id))
        if found is None:
            raise NotFound(f"no licence {license_id}")
        return found

    async def share_pool(self, license_id: str, sharing: Sharing, group_id: str | None, *, by: str) -> License:
        """Say whom a licence serves: its library only, its subtree, or a named group."""
        if (sharing is Sharing.GROUP) != (group_id is not None):
            raise InvalidNetwork("name a group exactly when sharing with a group")

        async def work(repository: NetworkRepository) -> License:
            license_ = await repository.license(license_id)
            if license_ is None:
                raise NotFound(f"no licence {license_id}")
            if group_id is not None:
                (await repository.network()).group(group_id)
            await repository.share_license(license_id, sharing, group_id)
            detail = {"sharing": sharing.value, "group": group_id, "owner": license_.owner_id}
            await self._log(repository, "pool-shared", license_id, by, detail)
            return License(**{**license_.__dict__, "sharing": sharing, "group_id": group_id})

        return await self.transactions.run(work)

    async def _log(
        self, repository: NetworkRepository, action: str, subject_id: str, by: str, detail: Mapping[str, Any]
    ) -> None:
        await repository.record_change(NetworkChange(self.clock(), action, subject_id, by, detail))


def _existing(network: LibraryNetwork, library_id: str) -> Library:
    if library_id not in network:
        raise LibraryNotFound(f"no library {library_id}")
    return network.get(library_id)
