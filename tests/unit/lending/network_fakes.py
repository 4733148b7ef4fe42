"""In-memory fakes of the network's repository and transactions (same semantics as the MongoDB ones: a failed
use case leaves nothing behind)."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from lending.domain.licensing import License
from lending.domain.network import Library, LibraryGroup, LibraryNetwork, Sharing
from lending.service_layer.network_admin import NetworkChange, NetworkRepository

T = TypeVar("T")


class FakeNetworkRepository:
    def __init__(self, libraries: list[Library], licenses: list[License] | None = None) -> None:
        self.libraries = {library.id: library for library in libraries}
        self.groups: dict[str, LibraryGroup] = {}
        self.licenses = {license_.id: license_ for license_ in licenses or []}
        self.log: list[NetworkChange] = []

    async def network(self) -> LibraryNetwork:
        return LibraryNetwork(self.libraries.values(), self.groups.values())

    async def save_library(self, library: Library) -> None:
        assert library.id in self.libraries
        self.libraries[library.id] = library

    async def save_group(self, group: LibraryGroup) -> None:
        self.groups[group.id] = group

    async def remove_group(self, group_id: str) -> None:
        del self.groups[group_id]

    async def pools_shared_with(self, group_id: str) -> int:
        return sum(1 for license_ in self.licenses.values() if license_.group_id == group_id)

    async def license(self, license_id: str) -> License | None:
        return self.licenses.get(license_id)

    async def share_license(self, license_id: str, sharing: Sharing, group_id: str | None) -> None:
        self.licenses[license_id] = replace(self.licenses[license_id], sharing=sharing, group_id=group_id)

    async def record_change(self, change: NetworkChange) -> None:
        self.log.append(change)

    async def changes(self, limit: int) -> list[NetworkChange]:
        return list(reversed(self.log))[:limit]

    async def merge_agreed_by(self, absorbed_id: str, surviving_id: str) -> set[str]:
        return {
            str(change.detail["province"])
            for change in self.log
            if change.action == "merge-agreed"
            and change.subject_id == absorbed_id
            and change.detail.get("into") == surviving_id
        }


class FakeNetworkTransactions:
    """Runs work on a copy and keeps it only when the work succeeds (a transaction's all-or-nothing)."""

    def __init__(self, repository: FakeNetworkRepository) -> None:
        self.repository = repository

    async def run(self, work: Callable[[NetworkRepository], Awaitable[T]]) -> T:
        attempt = copy.deepcopy(self.repository)
        result = await work(attempt)
        self.repository.__dict__.update(attempt.__dict__)
        return result
