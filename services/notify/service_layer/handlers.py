"""What notify does for each event it consumes. One handler per event type, registered in entrypoints.

Every handler runs in a unit of work joined to the consumer's transaction and its handled-event marker:
projection updates, reminders, inbox messages and deliveries commit together, once per event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from notify.domain.notices import Notice, NoticeKind
from notify.domain.schedule import Reminder
from notify.service_layer.clock import moment, utc
from notify.service_layer.notifier import Notifier
from notify.service_layer.unit_of_work import NotifyUnitOfWork
from sachso.events.v1 import drm_events_pb2
from sachso.events.v1 import lending_events_pb2 as lending
from sachso.kit.events import ReceivedEvent


class NotifyHandlers:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def _when(self, event: ReceivedEvent, *candidates: datetime | None) -> datetime:
        for candidate in candidates:
            if candidate is not None:
                return candidate
        return event.time or self.notifier.clock()

    async def _notice(
        self,
        event: ReceivedEvent,
        kind: NoticeKind,
        patron_id: str,
        uow: NotifyUnitOfWork,
        *,
        facts: dict[str, object],
        deadline: datetime | None = None,
        at: datetime | None = None,
    ) -> None:
        notice = Notice(event.id, kind, patron_id, self._when(event, at), facts, deadline)
        await self.notifier.notify(notice, uow)

    # -- patrons -----------------------------------------------------------------------------------------------

    async def patron_registered(self, event: ReceivedEvent[lending.PatronRegistered], uow: NotifyUnitOfWork) -> None:
        """Someone applied for a card: remember how to reach her."""
        payload = event.payload
        await uow.projections.record_patron(
            payload.patron_id,
            display_name=payload.display_name,
            email=payload.email,
            language=payload.preferred_language,
            library_id=payload.library_id,
        )

    async def email_verification_requested(
        self, event: ReceivedEvent[lending.EmailVerificationRequested], uow: NotifyUnitOfWork
    ) -> None:
        """Send the code, at once, to the address being verified."""
        payload = event.payload
        await uow.projections.record_patron(
            payload.patron_id,
            display_name=payload.display_name,
            email=payload.email,
            language=payload.preferred_language,
        )
        expires_at = moment(payload.expires_at)
        await self._notice(
            event,
            NoticeKind.EMAIL_VERIFICATION,
            payload.patron_id,
            uow,
            facts={"code": payload.code, "expires_at": expires_at or self._when(event)},
            deadline=expires_at,
        )

    async def patron_approved(self, event: ReceivedEvent[lending.PatronApproved], uow: NotifyUnitOfWork) -> None:
        """A card was approved: tell the new card holder her number."""
        payload = event.payload
        await uow.projections.record_patron(
            payload.patron_id,
            display_name=payload.display_name,
            email=payload.email,
            language=payload.preferred_language,
            library_id=payload.library_id,
            card_number=payload.card_number,
        )
        await self._notice(
            event,
            NoticeKind.CARD_APPROVED,
            payload.patron_id,
            uow,
            facts={"card_number": payload.card_number, "card_expires_at": moment(payload.card_expires_at)},
            at=moment(payload.approved_at),
        )

    async def patron_rejected(self, event: ReceivedEvent[lending.PatronRejected], uow: NotifyUnitOfWork) -> None:
        payload = event.payload
        await uow.projections.record_patron(
            payload.patron_id,
            display_name=payload.display_name,
            email=payload.email,
            language=payload.preferred_language,
        )
        await self._notice(event, NoticeKind.CARD_REJECTED, payload.patron_id, uow, facts={"reason": payload.reason})

    # -- catalogue ---------------------------------------------------------------------------------------------

    async def title_added(self, event: ReceivedEvent[lending.TitleAdded], uow: NotifyUnitOfWork) -> None:
        payload = event.payload
        await uow.projections.record_title(payload.title_id, payload.title, payload.authors)

    async def title_updated(self, event: ReceivedEvent[lending.TitleUpdated], uow: NotifyUnitOfWork) -> None:
        payload = event.payload
        await uow.projections.record_title(payload.title_id, payload.title, payload.authors)

    # -- loans -------------------------------------------------------------------------------------------------

    async def _remind_loan_due(
        self,
        loan_id: str,
        patron_id: str,
        title_id: str,
        start: datetime,
        due_at: datetime,
        uow: NotifyUnitOfWork,
    ) -> None:
        reminder = Reminder.before(
            NoticeKind.LOAN_DUE_SOON,
            patron_id=patron_id,
            subject_id=loan_id,
            title_id=title_id,
            start=start,
            deadline=due_at,
            lead=self.notifier.leads.loan_due,
        )
        if reminder is not None:
            await uow.reminders.schedule(reminder)

    async def loan_created(self, event: ReceivedEvent[lending.LoanCreated], uow: NotifyUnitOfWork) -> None:
        """Remember the loan (licence events name only the loan) and schedule its due-soon reminder."""
        payload = event.payload
        due_at = moment(payload.due_at)
        await uow.reminders.cancel_hold_reminders(payload.patron_id, payload.title_id)
        if due_at is None:
            return
        parked = await uow.projections.record_loan(payload.loan_id, payload.patron_id, payload.title_id, due_at)
        start = self._when(event, moment(payload.starts_at))
        await self._remind_loan_due(payload.loan_id, payload.patron_id, payload.title_id, start, due_at, uow)
        if parked:  # its licence was revoked before this event reached notify
            await self._revoked(parked, payload.patron_id, payload.title_id, uow)

    async def loan_renewed(self, event: ReceivedEvent[lending.LoanRenewed], uow: NotifyUnitOfWork) -> None:
        """A new due time: the old reminder goes, a new one comes."""
        payload = event.payload
        due_at = moment(payload.due_at)
        await uow.reminders.cancel_for(payload.loan_id)
        if due_at is None:
            return
        await uow.projections.record_loan(payload.loan_id, payload.patron_id, payload.title_id, due_at)
        await self._remind_loan_due(
            payload.loan_id, payload.patron_id, payload.title_id, self._when(event), due_at, uow
        )

    async def loan_returned(self, event: ReceivedEvent[lending.LoanReturned], uow: NotifyUnitOfWork) -> None:
        """Early return: no reminder any more. The patron returned it herself, so she hears nothing — unless
        the library did it for her."""
        payload = event.payload
        await uow.projections.end_loan(payload.loan_id)
        await uow.reminders.cancel_for(payload.loan_id)
        if payload.channel == lending.RETURN_CHANNEL_STAFF:
            title = await uow.projections.title(payload.title_id)
            await self._notice(
                event,
                NoticeKind.LOAN_ENDED,
                payload.patron_id,
                uow,
                facts={"title": title, "reason": "returned-by-staff"},
                at=moment(payload.returned_at),
            )

    async def loan_expired(self, event: ReceivedEvent[lending.LoanExpired], uow: NotifyUnitOfWork) -> None:
        payload = event.payload
        await uow.projections.end_loan(payload.loan_id)
        await uow.reminders.cancel_for(payload.loan_id)
        title = await uow.projections.title(payload.title_id)
        await self._notice(
            event,
            NoticeKind.LOAN_ENDED,
            payload.patron_id,
            uow,
            facts={"title": title, "reason": "expired"},
            at=moment(payload.expired_at),
        )

    # -- holds -------------------------------------------------------------------------------------------------

    async def hold_ready(self, event: ReceivedEvent[lending.HoldReady], uow: NotifyUnitOfWork) -> None:
        """A copy waits for her: say so with the deadline, and remind her before it lapses."""
        payload = event.payload
        ready_until = moment(payload.ready_until)
        title = await uow.projections.title(payload.title_id)
        await self._notice(
            event,
            NoticeKind.HOLD_READY,
            payload.patron_id,
            uow,
            facts={"title": title, "ready_until": ready_until or self._when(event)},
            deadline=ready_until,
        )
        if ready_until is None:
            return
        reminder = Reminder.before(
            NoticeKind.HOLD_LAPSING,
            patron_id=payload.patron_id,
            subject_id=payload.hold_id,
            title_id=payload.title_id,
            start=self._when(event),
            deadline=ready_until,
            lead=self.notifier.leads.hold_lapse,
        )
        if reminder is not None:
            await uow.reminders.schedule(reminder)

    async def hold_expired(self, event: ReceivedEvent[lending.HoldExpired], uow: NotifyUnitOfWork) -> None:
        payload = event.payload
        await uow.reminders.cancel_for(payload.hold_id)
        title = await uow.projections.title(payload.title_id)
        await self._notice(event, NoticeKind.HOLD_EXPIRED, payload.patron_id, uow, facts={"title": title})

    async def hold_cancelled(self, event: ReceivedEvent[lending.HoldCancelled], uow: NotifyUnitOfWork) -> None:
        payload = event.payload
        await uow.reminders.cancel_for(payload.hold_id)

    # -- licences ----------------------------------------------------------------------------------------------

    async def license_revoked(self, event: ReceivedEvent[drm_events_pb2.LicenseRevoked], uow: NotifyUnitOfWork) -> None:
        """The provider revoked a licence: tell the borrower of the loan it served. The event names only the
        loan; if notify has not seen that loan yet, the revocation waits for it."""
        payload = event.payload
        revocation = {
            "event_id": event.id,
            "reason": payload.reason,
            "revoked_at": moment(payload.revoked_at) or self._when(event),
        }
        loan = await uow.projections.loan(payload.loan_id)
        if loan is None:
            await uow.projections.park_revocation(payload.loan_id, revocation)
            return
        await self._revoked(revocation, loan.patron_id, loan.title_id, uow)

    async def _revoked(self, revocation: dict[str, Any], patron_id: str, title_id: str, uow: NotifyUnitOfWork) -> None:
        revoked_at = utc(revocation["revoked_at"])
        notice = Notice(
            revocation["event_id"],
            NoticeKind.LICENSE_REVOKED,
            patron_id,
            revoked_at or self.notifier.clock(),
            {
                "title": await uow.projections.title(title_id),
                "reason": revocation["reason"],
                "revoked_at": revoked_at,
            },
        )
        await self.notifier.notify(notice, uow)
