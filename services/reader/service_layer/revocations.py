"""Loans that ended: their streaming tokens stop working within seconds, not when they expire.

Streaming tokens live five minutes at most; a loan returned or expired before that must stop streaming at once.
Lending's events record ended loans in MongoDB (shared by every reader replica); each replica asks with a
two-second memory so that a page of resource requests costs one lookup.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cachetools import TTLCache
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from sachso.kit.errors import Unauthenticated

Document = dict[str, object]
REMEMBER_SECONDS = 2.0
KEEP_DAYS = 2  # longer than any streaming token lives


class LoanEnded(Unauthenticated):
    problem = "loan-ended"
    title = "The loan has ended: reading stops"


class Revocations:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self._recent: TTLCache[str, bool] = TTLCache(maxsize=100_000, ttl=REMEMBER_SECONDS)

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("ended_at", expireAfterSeconds=KEEP_DAYS * 86400)

    async def record(self, loan_id: str, session: AsyncClientSession) -> None:
        await self.collection.update_one(
            {"_id": loan_id}, {"$setOnInsert": {"ended_at": datetime.now(UTC)}}, upsert=True, session=session
        )

    async def ensure_open(self, loan_id: str) -> None:
        ended = self._recent.get(loan_id)
        if ended is None:
            ended = await self.collection.find_one({"_id": loan_id}, {"_id": 1}) is not None
            self._recent[loan_id] = ended
        if ended:
            raise LoanEnded("this loan has ended")
