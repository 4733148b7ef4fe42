"""Publications anyone may read without a loan: lending's ``TitleAccessChanged`` events, kept in MongoDB (shared
by every reader replica) and asked with a two-second memory, as revocations are."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from sachso.kit.expiring import ExpiringCache

REMEMBER_SECONDS = 2.0


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class OpenPublications:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self._known: ExpiringCache[str, bool] = ExpiringCache(maxsize=100_000, ttl=REMEMBER_SECONDS)

    async def record(self, publication_id: str, open_access: bool, at: datetime, session: AsyncClientSession) -> None:
        """Staff opened or closed it; the later change wins whatever order the events arrive in."""
        at = _aware(at)
        known = await self.collection.find_one({"_id": publication_id}, session=session)
        changed = known.get("changed_at") if known else None
        if isinstance(changed, datetime) and _aware(changed) > at:
            return
        await self.collection.update_one(
            {"_id": publication_id}, {"$set": {"open": open_access, "changed_at": at}}, upsert=True, session=session
        )

    async def is_open(self, publication_id: str) -> bool:
        known = self._known.get(publication_id)
        if known is None:
            known = await self.collection.find_one({"_id": publication_id, "open": True}, {"_id": 1}) is not None
            self._known[publication_id] = known
        return known
