"""Web Push subscriptions, one per device (browser): the endpoint and keys the browser gave, and whether the
push service has since said the subscription is gone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from notify.adapters.projections import utc
from notify.domain.subscriptions import Subscription

Document = dict[str, Any]


def subscription_id(endpoint: str) -> str:
    """One subscription per endpoint: a browser subscribing again updates its own entry."""
    return hashlib.sha256(endpoint.encode()).hexdigest()[:32]


def _subscription(document: Document) -> Subscription:
    created_at = utc(document["created_at"])
    assert created_at is not None
    return Subscription(
        id=document["_id"],
        patron_id=document["patron_id"],
        endpoint=document["endpoint"],
        p256dh=document["p256dh"],
        auth=document["auth"],
        device_name=document.get("device_name", ""),
        created_at=created_at,
        expired_at=utc(document.get("expired_at")),
    )


class MongoSubscriptions:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.collection = database["push_subscriptions"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("patron_id", ASCENDING), ("expired_at", ASCENDING)])

    async def save(
        self, patron_id: str, *, endpoint: str, p256dh: str, auth: str, device_name: str, at: datetime
    ) -> Subscription:
        """Store the device's subscription for ``patron_id`` (a device signed in by someone else moves over)."""
        identifier = subscription_id(endpoint)
        await self.collection.update_one(
            {"_id": identifier},
            {
                "$set": {
                    "patron_id": patron_id,
                    "endpoint": endpoint,
                    "p256dh": p256dh,
                    "auth": auth,
                    "device_name": device_name,
                    "created_at": at,
                    "expired_at": None,
                    "expired_reason": None,
                }
            },
            upsert=True,
        )
        return Subscription(identifier, patron_id, endpoint, p256dh, auth, device_name, at)

    async def list_for(self, patron_id: str) -> list[Subscription]:
        cursor = self.collection.find({"patron_id": patron_id}).sort("created_at", ASCENDING)
        return [_subscription(document) async for document in cursor]

    async def active_ids(self, patron_id: str, session: AsyncClientSession | None = None) -> list[str]:
        cursor = self.collection.find({"patron_id": patron_id, "expired_at": None}, {"_id": 1}, session=session)
        return sorted([document["_id"] async for document in cursor])

    async def active_ids_of(
        self, patron_ids: Iterable[str], session: AsyncClientSession | None = None
    ) -> dict[str, list[str]]:
        """:meth:`active_ids` of each of ``patron_ids`` with one query (a patron without devices: ``[]``)."""
        wanted = sorted(set(patron_ids))
        found: dict[str, list[str]] = {patron_id: [] for patron_id in wanted}
        cursor = self.collection.find(
            {"patron_id": {"$in": wanted}, "expired_at": None}, {"_id": 1, "patron_id": 1}, session=session
        )
        async for document in cursor:
            found[document["patron_id"]].append(document["_id"])
        return {patron_id: sorted(ids) for patron_id, ids in found.items()}

    async def by_ids(self, ids: Iterable[str], session: AsyncClientSession | None = None) -> dict[str, Subscription]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        return {
            document["_id"]: _subscription(document)
            async for document in self.collection.find({"_id": {"$in": wanted}}, session=session)
        }

    async def delete(self, patron_id: str, identifier: str) -> bool:
        """Remove one of ``patron_id``'s subscriptions; False if she has no such subscription."""
        result = await self.collection.delete_one({"_id": identifier, "patron_id": patron_id})
        return result.deleted_count == 1

    async def mark_expired(
        self, identifier: str, reason: str, at: datetime, session: AsyncClientSession | None = None
    ) -> None:
        await self.collection.update_one(
            {"_id": identifier, "expired_at": None},
            {"$set": {"expired_at": at, "expired_reason": reason[:300]}},
            session=session,
        )
