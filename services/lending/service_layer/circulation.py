"""Loans and holds: checkout, renew, return, expiry, and the hold queue that a freed copy feeds.

Every use case runs in one MongoDB transaction with the events it causes (the outbox). The guard against
over-lending is the conditional licence update in :meth:`LendingStore.take_copy`; everything else reads and
writes inside the same transaction, so a retried transaction starts from a consistent view.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from lending.adapters.store import Document, LendingStore, hold_from, utc
from lending.domain import holds as hold_queue
from lending.domain import idempotency
from lending.domain.holds import Hold, HoldState
from lending.domain.licensing import License, copies_for, lending_order, serves
from lending.domain.network import LibraryNetwork
from lending.domain.patrons import CardStatus, Patron
from lending.domain.titles import has_readable_publication
from lending.errors import (
    AlreadyBorrowed,
    AlreadyOnHold,
    CardCannotBorrow,
    CardStateError,
    HoldLimitReached,
    HoldNotFound,
    HoldNotNeeded,
    LoanLimitReached,
    LoanNotActive,
    LoanNotFound,
    NoCopyAvailable,
    RenewalRefused,
    TitleNotFound,
    TitleNotLendable,
)
from lending.service_layer.cards import patron_event
from lending.service_layer.clock import Clock, new_id, system_clock, timestamp
from sachso.events.v1 import lending_events_pb2 as events
from sachso.kit.events import OutboundEvent
from sachso.kit.outbox import Emit, Outbox
from sachso.kit.topics import LENDING_EVENTS

ACTIVE = "active"


@dataclass(frozen=True)
class Loan:
    id: str
    patron_id: str
    library_id: str
    title_id: str
    publication_id: str
    license_id: str
    starts_at: datetime
    due_at: datetime
    renewals: int
    status: str
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Checkout:
    loan: Loan
    replayed: bool  # the answer to an earlier attempt with the same Idempotency-Key


@dataclass(frozen=True)
class HoldView:
    hold: Hold
    position: int
    estimated_wait: timedelta | None


def loan_from(document: Document) -> Loan:
    return Loan(
        id=document["_id"],
        patron_id=document["patron_id"],
        library_id=document["library_id"],
        title_id=document["title_id"],
        publication_id=document.get("publication_id") or "",
        license_id=document["license_id"],
        starts_at=utc(document["starts_at"]),  # type: ignore[arg-type]
        due_at=utc(document["due_at"]),  # type: ignore[arg-type]
        renewals=document.get("renewals", 0),
        status=document["status"],
        ended_at=utc(document.get("ended_at")),
    )


def _event(key: str, payload: Any) -> OutboundEvent:
    """Loan and hold events are keyed by title, so one title's pool changes stay in order."""
    return OutboundEvent(topic=LENDING_EVENTS.name, key=key, payload=payload, subject=key)


class Circulation:
    def __init__(self, store: LendingStore, outbox: Outbox, clock: Clock = system_clock) -> None:
        self.store = store
        self.outbox = outbox
        self.clock = clock

    # -- reading -------------------------------------------------------------------------------------------

    async def loans_of(self, patron_id: str, *, active_only: bool = True) -> list[Loan]:
        query: Document = {"patron_id": patron_id}
        if active_only:
            query["status"] = ACTIVE
        return [loan_from(document) async for document in self.store.loans.find(query).sort("due_at", 1)]

    async def loan(self, loan_id: str) -> Loan:
        document = await self.store.loans.find_one({"_id": loan_id})
        if document is None:
            raise LoanNotFound(f"no loan {loan_id}")
        return loan_from(document)

    async def active_loan_for_publication(self, patron_id: str, publication_id: str) -> Loan | None:
        document = await self.store.loans.find_one(
            {"patron_id": patron_id, "publication_id": publication_id, "status": ACTIVE}
        )
        return loan_from(document) if document else None

    async def holds_of(self, patron_id: str) -> list[HoldView]:
        now = self.clock()
        network = await self.store.network()
        views = []
        cursor = self.store.holds.find({"patron_id": patron_id, "state": {"$in": ["waiting", "ready"]}})
        for hold in [hold_from(document) async for document in cursor]:
            views.append(await self._view(hold, network, now))
        return sorted(views, key=lambda view: view.hold.placed_at)

    async def _view(self, hold: Hold, network: LibraryNetwork, now: datetime) -> HoldView:
        holds = await self.store.open_holds(hold.title_id)
        licenses = await self.store.licenses_for(hold.title_id)
        position = hold_queue.position(holds, hold)
        policy = await self.store.policy(hold.patron_library_id)
        copies = copies_for(network, licenses, hold.patron_library_id, now)
        return HoldView(hold, position, hold_queue.estimated_wait(position, copies, policy.default_period))

    # -- checkout ------------------------------------------------------------------------------------------

    async def checkout(self, patron_id: str, title_id: str, period: timedelta | None = None) -> Loan:
        """Lend a copy of ``title_id`` to the patron for ``period`` (within her library's policy)."""
        return (await self.checkout_once(patron_id, title_id, period, None)).loan

    async def checkout_once(
        self, patron_id: str, title_id: str, period: timedelta | None, idempotency_key: str | None
    ) -> Checkout:
        """:meth:`checkout`, at most once per ``idempotency_key``: a retry with the same key and request gets the
        loan the first attempt made (``replayed``), recorded in the loan's own transaction so the key never
        names a loan that does not exist; a different request under the same key is refused."""
        key = idempotency.key_id(patron_id, "checkout", idempotency_key) if idempotency_key else None
        request = idempotency.fingerprint(title_id=title_id, period=period.total_seconds() if period else None)

        async def work(session: AsyncClientSession, emit: Emit) -> Checkout:
            if key is not None:
                done = await self.store.idempotent_result(key, session)
                if done is not None:
                    idempotency.ensure_same_request(done["fingerprint"], request)
                    loan_document = await self.store.loan_document(done["result_id"], session)
                    assert loan_document is not None  # recorded in the loan's transaction
                    return Checkout(loan_from(loan_document), replayed=True)
            loan = await self._checkout(patron_id, title_id, period, session, emit)
            if key is not None:
                expires_at = self.clock() + idempotency.KEEP_FOR
                await self.store.record_idempotent_result(key, request, loan.id, expires_at, session)
            return Checkout(loan, replayed=False)

        try:
            try:
                return await self.outbox.transaction(work)
            except DuplicateKeyError:
                if key is None:
                    raise
                return await self.outbox.transaction(work)  # a concurrent attempt with the same key won: replay it
        except NoCopyAvailable:
            await self._record_turnaway(patron_id, title_id)
            raise

    async def _checkout(
        self, patron_id: str, title_id: str, period: timedelta | None, session: AsyncClientSession, emit: Emit
    ) -> Loan:
        now = self.clock()
        patron, title = await self._patron_and_title(patron_id, title_id, session)
        patron.ensure_can_borrow(now)
        policy = await self.store.policy(patron.library_id)
        policy.period(period)  # refuse a period outside policy before anything else
        await self._ensure_may_borrow(patron, title_id, policy.max_loans, session)
        holds = await self.store.open_holds(title_id, session)
        ready = next((h for h in holds if h.patron_id == patron_id and h.state is HoldState.READY), None)
        reserved = await self.store.license(ready.license_id, session) if ready and ready.license_id else None
        if ready is not None and reserved is not None:  # the copy reserved for her ready hold
            await self.store.update_hold(ready.id, HoldState.READY, {"state": "fulfilled"}, session)
            license_ = reserved
        else:
            license_ = await self._take_any_copy(patron, title_id, holds, session, now)
        return await self._lend(patron, title, license_, policy.due_at(now, period), now, session, emit)

    async def _record_turnaway(self, patron_id: str, title_id: str) -> None:
        patron = await self.store.patron(patron_id)
        if patron is not None:
            await self.store.turnaways.insert_one(
                {"patron_id": patron_id, "library_id": patron.library_id, "title_id": title_id, "at": self.clock()}
            )

    async def _patron_and_title(
        self, patron_id: str, title_id: str, session: AsyncClientSession
    ) -> tuple[Patron, Document]:
        patron = await self.store.patron(patron_id, session)
        if patron is None:
            raise CardCannotBorrow("no reader card for this account")
        title = await self.store.titles.find_one({"_id": title_id}, session=session)
        if title is None or title.get("withdrawn"):
            raise TitleNotFound(f"no title {title_id}")
        if not has_readable_publication(title.get("publication_id"), title.get("readable")):
            raise TitleNotLendable("this title has no readable file yet; it can be borrowed once it is ingested")
        return patron, title

    async def _ensure_may_borrow(
        self, patron: Patron, title_id: str, max_loans: int, session: AsyncClientSession
    ) -> None:
        cursor = self.store.loans.find({"patron_id": patron.id, "status": ACTIVE}, {"title_id": 1}, session=session)
        borrowed = [document["title_id"] async for document in cursor]
        if title_id in borrowed:
            raise AlreadyBorrowed("you already have this title on loan")
        if len(borrowed) >= max_loans:
            raise LoanLimitReached(f"your library allows {max_loans} loans at a time")

    async def _take_any_copy(
        self, patron: Patron, title_id: str, holds: list[Hold], session: AsyncClientSession, now: datetime
    ) -> License:
        network = await self.store.network()
        licenses = await self.store.licenses_for(title_id, session)
        waiting = [
            hold
            for hold in holds
            if hold.state is HoldState.WAITING and not hold.is_suspended(now) and hold.patron_id != patron.id
        ]
        for license_ in lending_order(network, licenses, patron.library_id, now):
            # a free copy that a waiting patron could take goes to the queue, not to a newcomer
            if any(serves(network, license_, hold.patron_library_id) for hold in waiting):
                continue
            if await self.store.take_copy(license_, session):
                return license_
        raise NoCopyAvailable("every copy you may borrow is on loan; place a hold to join the queue")

    async def _lend(
        self,
        patron: Patron,
        title: Document,
        license_: License,
        due_at: datetime,
        now: datetime,
        session: AsyncClientSession,
        emit: Emit,
    ) -> Loan:
        loan = Loan(
            id=new_id(),
            patron_id=patron.id,
            library_id=patron.library_id,
            title_id=title["_id"],
            publication_id=title.get("publication_id") or "",
            license_id=license_.id,
            starts_at=now,
            due_at=license_.cap_due(due_at),
            renewals=0,
            status=ACTIVE,
        )
        await self.store.loans.insert_one(
            {
                "_id": loan.id,
                "patron_id": loan.patron_id,
                "library_id": loan.library_id,
                "title_id": loan.title_id,
                "publication_id": loan.publication_id,
                "license_id": loan.license_id,
                "license_owner_id": license_.owner_id,
                "starts_at": loan.starts_at,
                "due_at": loan.due_at,
                "renewals": 0,
                "status": ACTIVE,
                "active_key": f"{patron.id}:{loan.title_id}",
            },
            session=session,
        )
        emit(
            _event(
                loan.title_id,
                events.LoanCreated(
                    loan_id=loan.id,
                    patron_id=patron.id,
                    title_id=loan.title_id,
                    publication_id=loan.publication_id,
                    library_id=patron.library_id,
                    license_pool_id=license_.id,
                    starts_at=timestamp(now),
                    due_at=timestamp(loan.due_at),
                    online_only=bool(title.get("online_only")),
                ),
            )
        )
        return loan

    # -- renew, return, expire -----------------------------------------------------------------------------

    async def renewal_check(
        self, loan_id: str, session: AsyncClientSession | None = None
    ) -> tuple[datetime | None, str]:
        """The due time a renewal would give, or None and the reason it is refused."""
        now = self.clock()
        document = await self.store.loans.find_one({"_id": loan_id}, session=session)
        if document is None:
            raise LoanNotFound(f"no loan {loan_id}")
        loan = loan_from(document)
        if loan.status != ACTIVE:
            return None, "the loan has ended"
        patron = await self.store.patron(loan.patron_id, session)
        refusal = patron.borrowing_refusal(now) if patron else "no reader card"
        if refusal:
            return None, refusal
        policy = await self.store.policy(loan.library_id)
        if loan.renewals >= policy.max_renewals:
            return None, f"the loan has been renewed {loan.renewals} times, the most your library allows"
        network = await self.store.network()
        license_ = await self.store.license(loan.license_id, session)
        if license_ is None:
            return None, "the licence behind this loan is gone"
        waiting = [
            hold
            for hold in await self.store.open_holds(loan.title_id, session)
            if hold.state is HoldState.WAITING and serves(network, license_, hold.patron_library_id)
        ]
        if waiting:
            return None, "other readers are waiting for this title"
        new_due = license_.cap_due(max(now, loan.due_at) + policy.default_period)
        if new_due <= loan.due_at:
            return None, "the library's licence for this title ends before a renewal could"
        return new_due, ""

    async def renew(self, loan_id: str, patron_id: str | None = None) -> Loan:
        """Extend a loan by the library's default period when nobody waits and the renewal limit allows."""

        async def work(session: AsyncClientSession, emit: Emit) -> Loan:
            loan = await self._owned_active_loan(loan_id, patron_id, session)
            new_due, reason = await self.renewal_check(loan_id, session)
            if new_due is None:
                raise RenewalRefused(reason)
            await self.store.loans.update_one(
                {"_id": loan.id, "status": ACTIVE},
                {"$set": {"due_at": new_due}, "$inc": {"renewals": 1}},
                session=session,
            )
            emit(
                _event(
                    loan.title_id,
                    events.LoanRenewed(
                        loan_id=loan.id, patron_id=loan.patron_id, title_id=loan.title_id, due_at=timestamp(new_due)
                    ),
                )
            )
            return replace(loan, due_at=new_due, renewals=loan.renewals + 1)

        return await self.outbox.transaction(work)

    async def _owned_active_loan(self, loan_id: str, patron_id: str | None, session: AsyncClientSession) -> Loan:
        document = await self.store.loans.find_one({"_id": loan_id}, session=session)
        if document is None or (patron_id is not None and document["patron_id"] != patron_id):
            raise LoanNotFound(f"you have no loan {loan_id}")  # another patron's loan does not exist for you
        loan = loan_from(document)
        if loan.status != ACTIVE:
            raise LoanNotActive(f"the loan ended ({loan.status})")
        return loan

    async def return_loan(
        self,
        loan_id: str,
        patron_id: str | None = None,
        channel: events.ReturnChannel.ValueType = events.RETURN_CHANNEL_PATRON,
    ) -> Loan:
        """End a loan early; the copy goes to the next hold within the same transaction."""

        async def work(session: AsyncClientSession, emit: Emit) -> Loan:
            loan = await self._owned_active_loan(loan_id, patron_id, session)
            return await self._return(loan, channel, self.clock(), session, emit)

        return await self.outbox.transaction(work)

    async def _return(
        self,
        loan: Loan,
        channel: events.ReturnChannel.ValueType,
        now: datetime,
        session: AsyncClientSession,
        emit: Emit,
    ) -> Loan:
        ended = await self._end(loan, "returned", now, session)
        emit(
            _event(
                loan.title_id,
                events.LoanReturned(
                    loan_id=loan.id,
                    patron_id=loan.patron_id,
                    title_id=loan.title_id,
                    publication_id=loan.publication_id,
                    returned_at=timestamp(now),
                    channel=channel,
                ),
            )
        )
        await self._release_copy(loan.license_id, now, session, emit)
        return ended

    # -- blocked cards -------------------------------------------------------------------------------------

    async def block_card(self, patron_id: str) -> None:
        """Staff block a card: access ends at once. Her loans are returned (the copies pass to the queue, DRM
        ends the licences and the reader stops streaming), ready holds pass their copy on, waiting holds keep
        their place but are skipped, her refresh tokens are forgotten, and ``PatronBlocked`` tells DRM and the
        reader to refuse her tokens."""

        async def work(session: AsyncClientSession, emit: Emit) -> None:
            now = self.clock()
            card = await self.store.set_card_status(patron_id, CardStatus.ACTIVE, CardStatus.BLOCKED, session)
            if card is None:
                raise CardStateError(f"no active card {patron_id}")
            await self.store.set_holds_card_blocked(patron_id, True, session)
            for hold in await self.store.ready_holds(patron_id, session):
                await self._cancel_hold(hold, now, session, emit)
            for document in await self.store.active_loan_documents(patron_id, session):
                await self._return(loan_from(document), events.RETURN_CHANNEL_STAFF, now, session, emit)
            await self.store.forget_refresh_tokens(patron_id, session)
            emit(
                patron_event(
                    patron_id,
                    events.PatronBlocked(patron_id=patron_id, library_id=card["library_id"], blocked_at=timestamp(now)),
                )
            )

        await self.outbox.transaction(work)

    async def unblock_card(self, patron_id: str) -> None:
        """Lift a block: she signs in and borrows again, and her waiting holds are back in line."""

        async def work(session: AsyncClientSession, emit: Emit) -> None:
            now = self.clock()
            card = await self.store.set_card_status(patron_id, CardStatus.BLOCKED, CardStatus.ACTIVE, session)
            if card is None:
                raise CardStateError(f"no blocked card {patron_id}")
            await self.store.set_holds_card_blocked(patron_id, False, session)
            emit(
                patron_event(
                    patron_id,
                    events.PatronUnblocked(
                        patron_id=patron_id, library_id=card["library_id"], unblocked_at=timestamp(now)
                    ),
                )
            )

        await self.outbox.transaction(work)

    async def expire_loan(self, loan_id: str) -> bool:
        """End a loan that reached its due time; False when it had already ended or is not due."""

        async def work(session: AsyncClientSession, emit: Emit) -> bool:
            now = self.clock()
            document = await self.store.loans.find_one({"_id": loan_id, "status": ACTIVE}, session=session)
            if document is None or utc(document["due_at"]) > now:  # type: ignore[operator]
                return False
            loan = loan_from(document)
            await self._end(loan, "expired", now, session)
            emit(
                _event(
                    loan.title_id,
                    events.LoanExpired(
                        loan_id=loan.id,
                        patron_id=loan.patron_id,
                        title_id=loan.title_id,
                        publication_id=loan.publication_id,
                        expired_at=timestamp(now),
                    ),
                )
            )
            await self._release_copy(loan.license_id, now, session, emit)
            return True

        return await self.outbox.transaction(work)

    async def _end(self, loan: Loan, status: str, now: datetime, session: AsyncClientSession) -> Loan:
        await self.store.loans.update_one(
            {"_id": loan.id, "status": ACTIVE},
            {"$set": {"status": status, "ended_at": now}, "$unset": {"active_key": ""}},
            session=session,
        )
        return replace(loan, status=status, ended_at=now)

    async def _release_copy(self, license_id: str, now: datetime, session: AsyncClientSession, emit: Emit) -> None:
        """A copy of ``license_id`` is free: reserve it for the next hold it may serve, or give it back."""
        license_ = await self.store.license(license_id, session)
        if license_ is None:
            return
        network = await self.store.network()
        if not license_.is_exhausted(now):
            holds = await self.store.open_holds(license_.title_id, session)
            chosen = hold_queue.next_in_line(holds, now, lambda hold: serves(network, license_, hold.patron_library_id))
            # the copy stays counted in use: it passes straight to the next reader
            if chosen is not None and (
                license_.checkouts_left is None or await self.store.consume_checkout(license_.id, session)
            ):
                await self._make_ready(chosen, license_, now, session, emit)
                return
        await self.store.give_back_copy(license_id, session)

    async def _make_ready(
        self, hold: Hold, license_: License, now: datetime, session: AsyncClientSession, emit: Emit
    ) -> None:
        policy = await self.store.policy(hold.patron_library_id)
        ready_until = now + policy.hold_window
        await self.store.update_hold(
            hold.id,
            HoldState.WAITING,
            {"state": HoldState.READY.value, "ready_until": ready_until, "license_id": license_.id},
            session,
        )
        emit(
            _event(
                hold.title_id,
                events.HoldReady(
                    hold_id=hold.id,
                    patron_id=hold.patron_id,
                    title_id=hold.title_id,
                    ready_until=timestamp(ready_until),
                ),
            )
        )
        if not hold.auto_checkout:
            return
        patron = await self.store.patron(hold.patron_id, session)
        title = await self.store.titles.find_one({"_id": hold.title_id}, session=session)
        if patron is None or title is None or patron.borrowing_refusal(now):
            return  # she borrows it herself within the window, if she can
        open_loans = await self.store.loans.count_documents({"patron_id": patron.id, "status": ACTIVE}, session=session)
        if open_loans >= policy.max_loans:
            return
        await self.store.update_hold(hold.id, HoldState.READY, {"state": HoldState.FULFILLED.value}, session)
        await self._lend(patron, title, license_, policy.due_at(now, None), now, session, emit)

    # -- holds ---------------------------------------------------------------------------------------------

    async def place_hold(self, patron_id: str, title_id: str, *, auto_checkout: bool = False) -> HoldView:
        """Join the title's queue; only when no copy the patron may borrow is free."""

        async def work(session: AsyncClientSession, emit: Emit) -> Hold:
            now = self.clock()
            patron, _ = await self._patron_and_title(patron_id, title_id, session)
            patron.ensure_can_borrow(now)
            policy = await self.store.policy(patron.library_id)
            if await self.store.loans.find_one({"active_key": f"{patron_id}:{title_id}"}, session=session):
                raise AlreadyBorrowed("you already have this title on loan")
            if await self.store.holds.find_one({"open_key": f"{patron_id}:{title_id}"}, session=session):
                raise AlreadyOnHold("you are already in the queue for this title")
            open_holds = await self.store.holds.count_documents(
                {"patron_id": patron_id, "state": {"$in": ["waiting", "ready"]}}, session=session
            )
            if open_holds >= policy.max_holds:
                raise HoldLimitReached(f"your library allows {policy.max_holds} holds at a time")
            network = await self.store.network()
            licenses = await self.store.licenses_for(title_id, session)
            if not any(serves(network, lic, patron.library_id) and not lic.is_exhausted(now) for lic in licenses):
                raise NoCopyAvailable("no library you may borrow from has this title")
            queue = await self.store.open_holds(title_id, session)
            nobody_waiting = not any(h.state is HoldState.WAITING and not h.is_suspended(now) for h in queue)
            if nobody_waiting and lending_order(network, licenses, patron.library_id, now):
                raise HoldNotNeeded("a copy is available now")
            hold = Hold(
                id=new_id(),
                patron_id=patron_id,
                patron_library_id=patron.library_id,
                title_id=title_id,
                placed_at=now,
                auto_checkout=auto_checkout,
            )
            await self.store.insert_hold(hold, session)
            emit(
                _event(
                    title_id,
                    events.HoldPlaced(
                        hold_id=hold.id,
                        patron_id=patron_id,
                        title_id=title_id,
                        position=hold_queue.position([*queue, hold], hold),
                    ),
                )
            )
            return hold

        hold = await self.outbox.transaction(work)
        return await self._view(hold, await self.store.network(), self.clock())

    async def _owned_open_hold(self, hold_id: str, patron_id: str | None, session: AsyncClientSession) -> Hold:
        document = await self.store.holds.find_one({"_id": hold_id}, session=session)
        if document is None or (patron_id is not None and document["patron_id"] != patron_id):
            raise HoldNotFound(f"you have no hold {hold_id}")
        hold = hold_from(document)
        if hold.state not in hold_queue.OPEN_STATES:
            raise HoldNotFound(f"hold {hold_id} is {hold.state}")
        return hold

    async def cancel_hold(self, hold_id: str, patron_id: str | None = None) -> None:
        async def work(session: AsyncClientSession, emit: Emit) -> None:
            hold = await self._owned_open_hold(hold_id, patron_id, session)
            await self._cancel_hold(hold, self.clock(), session, emit)

        await self.outbox.transaction(work)

    async def _cancel_hold(self, hold: Hold, now: datetime, session: AsyncClientSession, emit: Emit) -> None:
        if not await self.store.update_hold(hold.id, hold.state, {"state": "cancelled", "closed_at": now}, session):
            raise HoldNotFound(f"hold {hold.id} changed meanwhile")
        emit(
            _event(
                hold.title_id,
                events.HoldCancelled(hold_id=hold.id, patron_id=hold.patron_id, title_id=hold.title_id),
            )
        )
        if hold.state is HoldState.READY and hold.license_id:
            await self._pass_on_reserved_copy(hold.license_id, now, session, emit)

    async def suspend_hold(self, hold_id: str, patron_id: str | None, until: datetime | None) -> HoldView:
        """Keep my place but skip me until ``until`` (None resumes the hold)."""

        async def work(session: AsyncClientSession, emit: Emit) -> Hold:
            hold = await self._owned_open_hold(hold_id, patron_id, session)
            if hold.state is not HoldState.WAITING:
                raise HoldNotNeeded("this hold is ready: borrow the copy or cancel the hold")
            await self.store.update_hold(hold.id, HoldState.WAITING, {"suspended_until": until}, session)
            if until is not None:
                emit(
                    _event(
                        hold.title_id,
                        events.HoldSuspended(
                            hold_id=hold.id,
                            patron_id=hold.patron_id,
                            title_id=hold.title_id,
                            suspended_until=timestamp(until),
                        ),
                    )
                )
            return replace(hold, suspended_until=until)

        hold = await self.outbox.transaction(work)
        return await self._view(hold, await self.store.network(), self.clock())

    async def expire_ready_hold(self, hold_id: str) -> bool:
        """A ready hold nobody borrowed in time: close it and pass the copy on."""

        async def work(session: AsyncClientSession, emit: Emit) -> bool:
            now = self.clock()
            document = await self.store.holds.find_one({"_id": hold_id, "state": "ready"}, session=session)
            if document is None or utc(document["ready_until"]) > now:  # type: ignore[operator]
                return False
            hold = hold_from(document)
            await self.store.update_hold(hold.id, HoldState.READY, {"state": "expired", "closed_at": now}, session)
            emit(
                _event(
                    hold.title_id, events.HoldExpired(hold_id=hold.id, patron_id=hold.patron_id, title_id=hold.title_id)
                )
            )
            if hold.license_id:
                await self._pass_on_reserved_copy(hold.license_id, now, session, emit)
            return True

        return await self.outbox.transaction(work)

    async def _pass_on_reserved_copy(
        self, license_id: str, now: datetime, session: AsyncClientSession, emit: Emit
    ) -> None:
        """A reserved copy was never borrowed: refund its checkout, then free it for the queue."""
        await self.store.refund_checkout(license_id, session)
        await self._release_copy(license_id, now, session, emit)
