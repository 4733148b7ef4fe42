"""Staff block and unblock a reader card; a block ends her access at once."""

from __future__ import annotations

from datetime import datetime

from lending.domain.patrons import CardStatus
from lending.errors import CardStateError
from lending.service_layer.clock import timestamp
from lending.service_layer.hold_requests import cancel_hold
from lending.service_layer.lending_events import patron_event
from lending.service_layer.loan_changes import return_loan
from lending.service_layer.unit_of_work import LendingUnitOfWork
from sachso.events.v1 import lending_events_pb2 as events


async def block_card(uow: LendingUnitOfWork, patron_id: str, now: datetime) -> None:
    """Her loans are returned (the copies pass to the queue, DRM ends the licences and the reader stops
    streaming), ready holds pass their copy on, waiting holds keep their place but are skipped, her refresh
    tokens are forgotten, and ``PatronBlocked`` tells DRM and the reader to refuse her tokens."""
    card = await uow.patrons.change_card_status(patron_id, CardStatus.ACTIVE, CardStatus.BLOCKED)
    if card is None:
        raise CardStateError(f"no active card {patron_id}")
    await uow.holds.set_card_blocked(patron_id, True)
    for hold in await uow.holds.ready_of(patron_id):
        await cancel_hold(uow, hold, now)
    for loan in await uow.loans.of_patron(patron_id, active_only=True):
        await return_loan(uow, loan, events.RETURN_CHANNEL_STAFF, now)
    await uow.patrons.forget_refresh_tokens(patron_id)
    uow.emit(
        patron_event(
            patron_id, events.PatronBlocked(patron_id=patron_id, library_id=card.library_id, blocked_at=timestamp(now))
        )
    )


async def unblock_card(uow: LendingUnitOfWork, patron_id: str, now: datetime) -> None:
    """Lift a block: she signs in and borrows again, and her waiting holds are back in line."""
    card = await uow.patrons.change_card_status(patron_id, CardStatus.BLOCKED, CardStatus.ACTIVE)
    if card is None:
        raise CardStateError(f"no blocked card {patron_id}")
    await uow.holds.set_card_blocked(patron_id, False)
    uow.emit(
        patron_event(
            patron_id,
            events.PatronUnblocked(patron_id=patron_id, library_id=card.library_id, unblocked_at=timestamp(now)),
        )
    )
