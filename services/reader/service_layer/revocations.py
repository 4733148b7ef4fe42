"""Loans that ended and cards that were blocked: their streaming tokens stop working within seconds, not when
they expire.

Streaming tokens live five minutes at most; a loan returned or expired before that, or a patron whose card was
blocked, must stop streaming at once. Lending's events record ended loans and blocked patrons in MongoDB (shared
by every reader replica); each replica asks with a two-second memory so that a page of resource requests costs
one lookup.
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


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class PatronBlocked(Unauthenticated):
    problem = "card-blocked"
    title = "This reader card is blocked: reading stops"


class Revocations:
    def __init__(
        self, collection: AsyncCollection[Document], blocked_patrons: AsyncCollection[Document] | None = None
    ) -> None:
        self.collection = collection
        self.blocked_patrons = (
            blocked_patrons if blocked_patrons is not None else collection.database["blocked_patrons"]
        )
        self._recent: TTLCache[str, bool] = TTLCache(maxsize=100_000, ttl=REMEMBER_SECONDS)
        self._blocked: TTLCache[str, bool] = TTLCache(maxsize=100_000, ttl=REMEMBER_SECONDS)

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("ended_at", expireAfterSeconds=KEEP_DAYS * 86400)

    async def record(self, loan_id: str, session: AsyncClientSession) -> None:
        await self.collection.update_one(
            {"_id": loan_id}, {"$setOnInsert": {"ended_at": datetime.now(UTC)}}, upsert=True, session=session
        )

    async def record_patron_block(
        self, patron_id: str, blocked: bool, at: datetime, session: AsyncClientSession
    ) -> None:
        """Lending blocked or unblocked a card; the later change wins whatever order the events arrive in."""
        at = _aware(at)
        known = await self.blocked_patrons.find_one({"_id": patron_id}, session=session)
        changed = known.get("changed_at") if known else None
        if isinstance(changed, datetime) and _aware(changed) > at:
            return  # a later change arrived first
        await self.blocked_patrons.update_one(
            {"_id": patron_id}, {"$set": {"blocked": blocked, "changed_at": at}}, upsert=True, session=session
        )

    async def ensure_open(self, loan_id: str, patron_id: str | None = None) -> None:
        ended = self._recent.get(loan_id)
        if ended is None:
            ended = await self.collection.find_one({"_id": loan_id}, {"_id": 1}) is not None
            self._recent[loan_id] = ended
        if ended:
            raise LoanEnded("this loan has ended")
        if patron_id is not None:
            blocked = self._blocked.get(patron_id)
            if blocked is None:
                blocked = await self.blocked_patrons.find_one({"_id": patron_id, "blocked": True}) is not None
                self._blocked[patron_id] = blocked
            if blocked:
                raise PatronBlocked("this reader card is blocked")
