"""Checkout: lend a copy of a title to a patron — the copy reserved for her ready hold, or the best free one.

The guard against over-lending is the conditional ``licences.take_copy``; the rules (card, limit, period, which
licence) are the domain's.

Database round trips of a checkout (counted by ``tests/integration/lending/test_round_trips.py``): the request's
card check reads the patron (1, ``CardAccess``); the borrower is that read of a moment ago (read again only when
that copy would refuse her), the network and lending policies a snapshot of seconds. What a checkout decides by —
the title, its licences and open holds, her active loans — is one read (``titles.circulation``: one aggregation).
A loan: in the transaction that read (2), the conditional update that takes a copy (3), the loan (4) and its
``LoanCreated`` in the outbox (5), commit (6). A title that refused for want of a copy in the last minute (in
this process: :class:`OneAtATime`) is read first, outside any transaction (2): when no copy is free for her, that
read and the turn-away it records (3) are the whole refusal; otherwise the transaction follows (7 for a loan).
The checkout of the copy reserved for her ready hold costs the same as a loan (6, or 7 after that first read), its
update fulfilling the hold. A title's first refusal comes from its transaction and its abort (4). With an
``Idempotency-Key`` (the web app sends one with every tap) its record is read and written in the transaction as
well (8 for a loan), and read before the title where the title is read first (a used key goes to the
transaction, which replays its loan). A return that passes the copy to the next hold: card check, the loan, its
end, the licence, the title's holds, the hold made ready, both events in one insert, commit (8).

Under contention (:class:`OneAtATime`), a request that waited for her turn (others' transactions went first)
reads the licences in it (1) — none when someone in her turn found none free after she came — and, when the takers
before her took the last copy, leaves her turn to be refused as above.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lending.domain import idempotency
from lending.domain import loans as loan_rules
from lending.domain.licensing import CopyChoice, License, a_copy_may_be_free, copy_choice
from lending.domain.loans import LendableTitle, Loan
from lending.domain.patrons import Patron
from lending.domain.policy import LendingPolicy
from lending.errors import AlreadyBorrowed, LendingError, NoCopyAvailable
from lending.service_layer.copies import lend
from lending.service_layer.unit_of_work import DuplicateEntry, LendingUnitOfWork, Turnaways, UnitOfWorkFactory


@dataclass
class _Queue:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # requests holding or waiting for the turn
    none_free_at: float = -math.inf  # when someone in her turn last found no copy free


@dataclass
class Turn:
    """A request's turn at a title's copies."""

    queue: _Queue
    arrived_at: float
    waited: bool  # someone's transaction went before hers: what she read before may be out of date

    @property
    def none_free_since_she_came(self) -> bool:
        """Someone in her turn found no copy free after she came: she need not read the licences to know."""
        return self.queue.none_free_at > self.arrived_at

    def found_none_free(self) -> None:
        self.queue.none_free_at = time.monotonic()


class OneAtATime:
    """Transactions that may take a copy of one title, one at a time in this process. They all update the same
    licence document: run together, all but one meet a write conflict and re-run whole after PyMongo's growing
    backoff (up to 0.5 s a time), which made the tail of a contended title and ate the database's rate. Waiting
    here costs nothing; across processes the database's conflict still decides, and never over-lending rests on
    the conditional ``take_copy`` alone."""

    REFUSALS_REMEMBERED_FOR = 60.0  # seconds: a title that refused for want of a copy is read before it is tried
    REFUSALS_REMEMBERED = 10_000  # titles, the oldest forgotten first

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._refused: dict[str, float] = {}  # title → when a checkout here last found no copy for her

    def refused(self, title_id: str) -> None:
        """A checkout of ``title_id`` was refused for want of a copy."""
        self._refused.pop(title_id, None)
        self._refused[title_id] = time.monotonic()
        while len(self._refused) > self.REFUSALS_REMEMBERED:
            del self._refused[next(iter(self._refused))]

    def refused_lately(self, title_id: str) -> bool:
        """A checkout of ``title_id`` was refused for want of a copy within the last minute: its next checkouts are
        likely refused too, so they read before they try (a refusal then needs no transaction)."""
        at = self._refused.get(title_id)
        return at is not None and time.monotonic() - at < self.REFUSALS_REMEMBERED_FOR

    @contextlib.asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[Turn]:
        queue = self._queues.setdefault(key, _Queue())
        arrived_at, waited = time.monotonic(), queue.users > 0
        queue.users += 1
        try:
            async with queue.lock:
                yield Turn(queue, arrived_at, waited)
        finally:
            queue.users -= 1
            if queue.users == 0:
                del self._queues[key]


@dataclass(frozen=True)
class Checkout:
    loan: Loan
    replayed: bool  # the answer to an earlier attempt with the same Idempotency-Key


async def checkout(
    uow_factory: UnitOfWorkFactory,
    turnaways: Turnaways,
    patron_id: str,
    title_id: str,
    period: timedelta | None,
    idempotency_key: str | None,
    now: datetime,
    takers: OneAtATime | None = None,
) -> Checkout:
    """Lend at most once per ``idempotency_key``: a retry with the same key and request gets the loan the first
    attempt made (``replayed``), recorded in the loan's own transaction so the key never names a loan that does
    not exist; a different request under the same key is refused. A refusal for want of a copy is counted.

    For a title that refused lately (``takers``' memory; always without ``takers``), a refusal for want of a copy
    is answered from committed reads before any transaction (most requests for a popular title end so); a key
    already used sends the request to the transaction, which replays its answer.
    The transactions that may take a copy of the title run one at a time in this process when ``takers`` is
    given (see :class:`OneAtATime`)."""
    key = idempotency.key_id(patron_id, "checkout", idempotency_key) if idempotency_key else None
    request = idempotency.fingerprint(title_id=title_id, period=period.total_seconds() if period else None)

    async def work(uow: LendingUnitOfWork) -> Checkout:
        if key is not None:
            done = await uow.idempotency.result(key)
            if done is not None:
                fingerprint, loan_id = done
                idempotency.ensure_same_request(fingerprint, request)
                loan = await uow.loans.get(loan_id)
                assert loan is not None  # recorded in the loan's transaction
                return Checkout(loan, replayed=True)
        loan = await lend_a_copy(uow, patron_id, title_id, period, now)
        if key is not None:
            await uow.idempotency.record(key, request, loan.id, now + idempotency.KEEP_FOR)
        return Checkout(loan, replayed=False)

    async def transaction() -> Checkout:
        try:
            return await uow_factory().run(work)
        except DuplicateEntry as error:
            if key is None:  # a concurrent checkout of the same title by her won
                raise AlreadyBorrowed("you already have this title on loan") from error
            return await uow_factory().run(work)  # a concurrent attempt with the same key won: replay it

    async def want_of_a_copy() -> NoCopyAvailable | None:
        return await uow_factory().read_committed(
            lambda uow: _want_of_a_copy(uow, key, patron_id, title_id, period, now)
        )

    try:
        # a title that refused lately is read first; any other goes straight to its transaction (one read fewer)
        refusal = await want_of_a_copy() if takers is None or takers.refused_lately(title_id) else None
        if refusal is None and takers is not None:
            async with takers.turn(title_id) as turn:
                if not turn.waited:
                    return await transaction()
                if not turn.none_free_since_she_came:
                    if await uow_factory().read_committed(lambda uow: _copy_may_be_free(uow, patron_id, title_id, now)):
                        return await transaction()
                    turn.found_none_free()  # only what she read: the waiters behind her trust it
            # the takers before her took the last copy: decide again from her own reads, outside her turn (the
            # queue behind her waits for one read at most, and none once someone found no copy free)
            refusal = await want_of_a_copy()
        if refusal is not None:
            raise refusal
        async with takers.turn(title_id) if takers else contextlib.nullcontext():
            return await transaction()
    except NoCopyAvailable as refusal:
        if takers is not None:
            takers.refused(title_id)
        await turnaways.record(patron_id, title_id, now, library_id=refusal.library_id)
        raise


async def lend_a_copy(
    uow: LendingUnitOfWork, patron_id: str, title_id: str, period: timedelta | None, now: datetime
) -> Loan:
    patron = await _borrower(uow, patron_id, now)
    request = await _read_request(uow, patron, title_id, period, now)
    choice = request.choice
    if choice.reserved_for is not None and choice.reserved is not None:  # the copy reserved for her ready hold
        await uow.holds.fulfil(choice.reserved_for.id)
        license_ = choice.reserved
    else:
        license_ = await _take_any_copy(uow, patron, choice.to_try)
    due_at = loan_rules.due_at(request.policy, license_, now, period)
    return await lend(uow, patron, request.title, license_, due_at, now)


@dataclass(frozen=True)
class _Request:
    title: LendableTitle
    policy: LendingPolicy
    choice: CopyChoice


async def _read_request(
    uow: LendingUnitOfWork, patron: Patron, title_id: str, period: timedelta | None, now: datetime
) -> _Request:
    """Read what a checkout decides by (one read: :meth:`Titles.circulation`) and apply every rule before the copy,
    in order — the title, the period, her loans — then find where her copy would come from."""
    circulation = await uow.titles.circulation(title_id, patron.id)
    title = loan_rules.ensure_lendable(circulation.title if circulation else None, title_id)
    assert circulation is not None  # ensure_lendable refused a title that does not exist
    policy = await uow.libraries.policy(patron.library_id)
    policy.period(period)  # refuse a period outside policy before anything else
    loan_rules.ensure_may_borrow(circulation.borrowed, title_id, policy.max_loans)
    network = await uow.libraries.network()
    return _Request(
        title, policy, copy_choice(network, circulation.licences, circulation.holds, patron.id, patron.library_id, now)
    )


async def _want_of_a_copy(
    uow: LendingUnitOfWork, key: str | None, patron_id: str, title_id: str, period: timedelta | None, now: datetime
) -> NoCopyAvailable | None:
    """The refusal for want of a copy that the checkout's transaction would give, decided by the same rules in the
    same order from committed reads outside any transaction; None when anything else would answer (another rule
    refuses, a copy is reserved for her, or one looks free): the transaction then decides, as without this.

    One read gives the licences before the holds, so a copy reserved for her in between shows as her ready hold:
    the refusal holds at the moment the licences were read — every copy she may borrow lent, none reserved for
    her."""
    if key is not None and await uow.idempotency.result(key) is not None:
        return None  # an earlier attempt's answer: the transaction replays it
    try:
        patron = await _borrower(uow, patron_id, now)
        request = await _read_request(uow, patron, title_id, period, now)
    except LendingError:
        return None
    return _no_copy(patron) if request.choice.none_for_her else None


async def _copy_may_be_free(uow: LendingUnitOfWork, patron_id: str, title_id: str, now: datetime) -> bool:
    """Whether a copy she may borrow looks free (or another rule refuses her: the transaction says which)."""
    try:
        return (await _licences_for_her(uow, patron_id, title_id, now))[2]
    except LendingError:
        return True


async def _licences_for_her(
    uow: LendingUnitOfWork, patron_id: str, title_id: str, now: datetime
) -> tuple[Patron, list[License], bool]:
    """The borrower, the title's licences, and whether one serving her could lend now (before the holds)."""
    patron = await _borrower(uow, patron_id, now)
    licences = await uow.licences.for_title(title_id)
    return patron, licences, a_copy_may_be_free(await uow.libraries.network(), licences, patron.library_id, now)


def _no_copy(patron: Patron) -> NoCopyAvailable:
    return NoCopyAvailable(
        "every copy you may borrow is on loan; place a hold to join the queue", library_id=patron.library_id
    )


async def _borrower(uow: LendingUnitOfWork, patron_id: str, now: datetime) -> Patron:
    """The borrower as her request's card check read her a moment ago — the same freshness the card check
    allows a block — or, when that copy would refuse her (a card renewed or approved just now), as she is now:
    only current data refuses."""
    recent = await uow.patrons.recent(patron_id)
    if recent is not None and not recent.borrowing_refusal(now):
        return recent
    patron = loan_rules.ensure_has_card(await uow.patrons.get(patron_id))
    patron.ensure_can_borrow(now)
    return patron


async def _take_any_copy(uow: LendingUnitOfWork, patron: Patron, to_try: list[License]) -> License:
    for license_ in to_try:
        if await uow.licences.take_copy(license_):
            return license_
    raise _no_copy(patron)
