"""The network's repository on MongoDB: libraries, library groups, licence sharing and the change log, read and
written inside one transaction of the service's outbox."""

from __future__ import annotations

from typing import TypeVar

from pymongo import DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession

from lending.adapters.network_documents import aware, group_document, group_from
from lending.adapters.store import LendingStore, library_from, license_from
from lending.adapters.transactions import RepositoryTransactions
from lending.domain.licensing import License
from lending.domain.network import Library, LibraryGroup, LibraryNetwork, Sharing
from lending.service_layer.network_admin import NetworkChange, NetworkRepository
from sachso.kit.outbox import Outbox

T = TypeVar("T")


class MongoNetworkRepository:
    def __init__(self, store: LendingStore, session: AsyncClientSession) -> None:
        self.database = store.database
        self.session = session
        self.groups = store.database["library_groups"]
        self.change_log = store.database["network_changes"]

    async def network(self) -> LibraryNetwork:
        libraries = [library_from(d) async for d in self.database["libraries"].find({}, session=self.session)]
        groups = [group_from(d) async for d in self.groups.find({}, session=self.session)]
        return LibraryNetwork(libraries, groups)

    async def save_library(self, library: Library) -> None:
        await self.database["libraries"].update_one(
            {"_id": library.id},
            {"$set": {"parent_id": library.parent_id, "kind": library.kind.value, "code": library.code}},
            session=self.session,
        )

    async def save_group(self, group: LibraryGroup) -> None:
        await self.groups.replace_one({"_id": group.id}, group_document(group), upsert=True, session=self.session)

    async def remove_group(self, group_id: str) -> None:
        await self.groups.delete_one({"_id": group_id}, session=self.session)

    async def pools_shared_with(self, group_id: str) -> int:
        return await self.database["licenses"].count_documents({"group_id": group_id}, session=self.session)

    async def license(self, license_id: str) -> License | None:
        document = await self.database["licenses"].find_one({"_id": license_id}, session=self.session)
        return license_from(document) if document else None

    async def share_license(self, license_id: str, sharing: Sharing, group_id: str | None) -> None:
        await self.database["licenses"].update_one(
            {"_id": license_id}, {"$set": {"sharing": sharing.value, "group_id": group_id}}, session=self.session
        )

    async def record_change(self, change: NetworkChange) -> None:
        await self.change_log.insert_one(
            {
                "at": change.at,
                "action": change.action,
                "subject_id": change.subject_id,
                "by": change.by,
                "detail": dict(change.detail),
            },
            session=self.session,
        )

    async def merge_agreed_by(self, absorbed_id: str, surviving_id: str) -> set[str]:
        query = {"action": "merge-agreed", "subject_id": absorbed_id, "detail.into": surviving_id}
        cursor = self.change_log.find(query, {"detail.province": 1}, session=self.session)
        return {document["detail"]["province"] async for document in cursor}

    async def changes(self, limit: int) -> list[NetworkChange]:
        cursor = self.change_log.find({}, session=self.session).sort([("at", DESCENDING), ("_id", DESCENDING)])
        return [
            NetworkChange(aware(d["at"]), d["action"], d["subject_id"], d["by"], d.get("detail", {}))
            async for d in cursor.limit(limit)
        ]


def network_transactions(store: LendingStore, outbox: Outbox) -> RepositoryTransactions[NetworkRepository]:
    """The network's use cases in outbox transactions; the store's cached network is dropped after every change."""
    return RepositoryTransactions(
        outbox, lambda session, _: MongoNetworkRepository(store, session), after=store.forget_network
    )
