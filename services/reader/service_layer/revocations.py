"""Loans that ended and cards that were blocked: their streaming tokens stop working within seconds, not when
they expire.

Streaming tokens live five minutes at most; a loan returned or expired before that, or a patron whose card was
blocked, must stop streaming at once. Lending's events record ended loans and blocked patrons (shared by every
reader replica) through the unit of work of the consumer's transaction; each replica asks, outside any
transaction, with a two-second memory so that a page of resource requests costs one lookup.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reader.domain.reading import later_block_change
from reader.service_layer.repositories import RevocationReads
from reader.service_layer.unit_of_work import ReaderUnitOfWork
from sachso.kit.errors import Unauthenticated
from sachso.kit.expiring import ExpiringCache

REMEMBER_SECONDS = 2.0


class LoanEnded(Unauthenticated):
    problem = "loan-ended"
    title = "The loan has ended: reading stops"


class PatronBlocked(Unauthenticated):
    problem = "card-blocked"
    title = "This reader card is blocked: reading stops"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def record_loan_ended(uow: ReaderUnitOfWork, loan_id: str, at: datetime) -> None:
    """Lending returned or expired the loan: its streaming stops."""
    await uow.revocations.end_loan(loan_id, at)


async def record_patron_block(uow: ReaderUnitOfWork, patron_id: str, blocked: bool, at: datetime) -> None:
    """Lending blocked or unblocked a card; the later change wins whatever order the events arrive in."""
    at = _aware(at)
    if later_block_change(await uow.revocations.block_changed_at(patron_id), at):
        await uow.revocations.set_blocked(patron_id, blocked, at)


class Revocations:
    """Asked on every streaming request: has this loan ended, is this card blocked?"""

    def __init__(self, reads: RevocationReads, remember_seconds: float = REMEMBER_SECONDS) -> None:
        self.reads = reads
        self._recent: ExpiringCache[str, bool] = ExpiringCache(maxsize=100_000, ttl=remember_seconds)
        self._blocked: ExpiringCache[str, bool] = ExpiringCache(maxsize=100_000, ttl=remember_seconds)

    async def ensure_open(self, loan_id: str, patron_id: str | None = None) -> None:
        ended = self._recent.get(loan_id)
        if ended is None:
            ended = await self.reads.loan_ended(loan_id)
            self._recent[loan_id] = ended
        if ended:
            raise LoanEnded("this loan has ended")
        if patron_id is not None:
            blocked = self._blocked.get(patron_id)
            if blocked is None:
                blocked = await self.reads.patron_blocked(patron_id)
                self._blocked[patron_id] = blocked
            if blocked:
                raise PatronBlocked("this reader card is blocked")
