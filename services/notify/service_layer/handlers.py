"""What notify does for each event it consumes. One handler per event type, registered in entrypoints.

Every handler runs inside the consumer's transaction with the handled-event marker: projection updates,
reminders, inbox messages and deliveries commit together, once per event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from notify.adapters.projections import utc
from notify.domain.notices import Notice, NoticeKind
from notify.domain.schedule import Reminder
from notify.service_layer.clock import moment
from notify.service_layer.notifier import Notifier
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
        session: AsyncClientSession,
        *,
        facts: dict[str, object],
        deadline: datetime | None = None,
        at: datetime | None = None,
    ) -> None:
        notice = Notice(event.id, kind, patron_id, self._when(event, at), facts, deadline)
        await self.notifier.notify(notice, session)

    # -- patrons -----------------------------------------------------------------------------------------------

    async def patron_registered(
        self, event: ReceivedEvent[lending.PatronRegistered], session: AsyncClientSession
    ) -> None:
        """Someone applied for a card: remember how to reach her."""
        payload = event.payload
        await self.notifier.projections.record_patron(
            payload.patron_id,
            display_name=payload.display_name,
            email=payload.email,
            language=payload.preferred_language,
            library_id=payload.library_id,
            session=session,
        )

    async def email_verification_requested(
        self, event: ReceivedEvent[lending.EmailVerificationRequested], session: AsyncClientSession
    ) -> None:
        """Send the code, at once, to the address being verified."""
        payload = event.payload
        await self.notifier.projections.record_patron(
            payload.patron_id,
            display_name=payload.display_name,
            email=payload.email,
            language=payload.preferred_language,
            session=session,
        )
        expires_at = moment(payload.expires_at)
        await self._notice(
            event,
            NoticeKind.EMAIL_VERIFICATION,
            payload.patron_id,
            session,
            facts={"code": payload.code, "expires_at": expires_at or self._when(event)},
            deadline=expires_at,
        )

    async def patron_approved(self, event: ReceivedEvent[lending.PatronApproved], session: AsyncClientSession) -> None:
        """A card was approved: tell the new card holder her number."""
        payload = event.payload
        await self.notifier.projections.record_patron(
            payload.patron_id,
            display_name=payload.display_name,
            email=payload.email,
            language=payload.preferred_language,
            library_id=payload.library_id,
            card_number=payload.card_number,
            session=session,
        )
        await self._notice(
            event,
            NoticeKind.CARD_APPROVED,
            payload.patron_id,
            session,
            facts={"card_number": payload.card_number, "card_expires_at": moment(payload.card_expires_at)},
            at=moment(payload.approved_at),
        )

    async def patron_rejected(self, event: ReceivedEvent[lending.PatronRejected], session: AsyncClientSession) -> None:
        payload = event.payload
        await self.notifier.projections.record_patron(
            payload.patron_id,
            display_name=payload.display_name,
            email=payload.email,
            language=payload.preferred_language,
            session=session,
        )
        await self._notice(
            event, NoticeKind.CARD_REJECTED, payload.patron_id, session, facts={"reason": payload.reason}
        )

    # -- catalogue ---------------------------------------------------------------------------------------------

    async def title_added(self, event: ReceivedEvent[lending.TitleAdded], session: AsyncClientSession) -> None:
        payload = event.payload
        await self.notifier.projections.record_title(payload.title_id, payload.title, payload.authors, session)

    async def title_updated(self, event: ReceivedEvent[lending.TitleUpdated], session: AsyncClientSession) -> None:
        payload = event.payload
        await self.notifier.projections.record_title(payload.title_id, payload.title, payload.authors, session)

    # -- loans -------------------------------------------------------------------------------------------------

    async def _remind_loan_due(
        self,
        loan_id: str,
        patron_id: str,
        title_id: str,
        start: datetime,
        due_at: datetime,
        session: AsyncClientSession,
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
            await self.notifier.reminders.schedule(reminder, session)

    async def loan_created(self, event: ReceivedEvent[lending.LoanCreated], session: AsyncClientSession) -> None:
        """Remember the loan (licence events name only the loan) and schedule its due-soon reminder."""
        payload = event.payload
        due_at = moment(payload.due_at)
        await self.notifier.reminders.cancel_hold_reminders(payload.patron_id, payload.title_id, session)
        if due_at is None:
            return
        parked = await self.notifier.projections.record_loan(
            payload.loan_id, payload.patron_id, payload.title_id, due_at, session
        )
        start = self._when(event, moment(payload.starts_at))
        await self._remind_loan_due(payload.loan_id, payload.patron_id, payload.title_id, start, due_at, session)
        if parked:  # its licence was revoked before this event reached notify
            await self._revoked(parked, payload.patron_id, payload.title_id, session)

    async def loan_renewed(self, event: ReceivedEvent[lending.LoanRenewed], session: AsyncClientSession) -> None:
        """A new due time: the old reminder goes, a new one comes."""
        payload = event.payload
        due_at = moment(payload.due_at)
        await self.notifier.reminders.cancel_for(payload.loan_id, session)
        if due_at is None:
            return
        await self.notifier.projections.record_loan(
            payload.loan_id, payload.patron_id, payload.title_id, due_at, session
        )
        await self._remind_loan_due(
            payload.loan_id, payload.patron_id, payload.title_id, self._when(event), due_at, session
        )

    async def loan_returned(self, event: ReceivedEvent[lending.LoanReturned], session: AsyncClientSession) -> None:
        """Early return: no reminder any more. The patron returned it herself, so she hears nothing — unless
        the library did it for her."""
        payload = event.payload
        await self.notifier.projections.end_loan(payload.loan_id, session)
        await self.notifier.reminders.cancel_for(payload.loan_id, session)
        if payload.channel == lending.RETURN_CHANNEL_STAFF:
            title = await self.notifier.projections.title(payload.title_id, session)
            await self._notice(
                event,
                NoticeKind.LOAN_ENDED,
                payload.patron_id,
                session,
                facts={"title": title, "reason": "returned-by-staff"},
                at=moment(payload.returned_at),
            )

    async def loan_expired(self, event: ReceivedEvent[lending.LoanExpired], session: AsyncClientSession) -> None:
        payload = event.payload
        await self.notifier.projections.end_loan(payload.loan_id, session)
        await self.notifier.reminders.cancel_for(payload.loan_id, session)
        title = await self.notifier.projections.title(payload.title_id, session)
        await self._notice(
            event,
            NoticeKind.LOAN_ENDED,
            payload.patron_id,
            session,
            facts={"title": title, "reason": "expired"},
            at=moment(payload.expired_at),
        )

    # -- holds -------------------------------------------------------------------------------------------------

    async def hold_ready(self, event: ReceivedEvent[lending.HoldReady], session: AsyncClientSession) -> None:
        """A copy waits for her: say so with the deadline, and remind her before it lapses."""
        payload = event.payload
        ready_until = moment(payload.ready_until)
        title = await self.notifier.projections.title(payload.title_id, session)
        await self._notice(
            event,
            NoticeKind.HOLD_READY,
            payload.patron_id,
            session,
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
            await self.notifier.reminders.schedule(reminder, session)

    async def hold_expired(self, event: ReceivedEvent[lending.HoldExpired], session: AsyncClientSession) -> None:
        payload = event.payload
        await self.notifier.reminders.cancel_for(payload.hold_id, session)
        title = await self.notifier.projections.title(payload.title_id, session)
        await self._notice(event, NoticeKind.HOLD_EXPIRED, payload.patron_id, session, facts={"title": title})

    async def hold_cancelled(self, event: ReceivedEvent[lending.HoldCancelled], session: AsyncClientSession) -> None:
        payload = event.payload
        await self.notifier.reminders.cancel_for(payload.hold_id, session)

    # -- licences ----------------------------------------------------------------------------------------------

    async def license_revoked(
        self, event: ReceivedEvent[drm_events_pb2.LicenseRevoked], session: AsyncClientSession
    ) -> None:
        """The provider revoked a licence: tell the borrower of the loan it served. The event names only the
        loan; if notify has not seen that loan yet, the revocation waits for it."""
        payload = event.payload
        revocation = {
            "event_id": event.id,
            "reason": payload.reason,
            "revoked_at": moment(payload.revoked_at) or self._when(event),
        }
        loan = await self.notifier.projections.loan(payload.loan_id, session)
        if loan is None:
            await self.notifier.projections.park_revocation(payload.loan_id, revocation, session)
            return
        await self._revoked(revocation, loan.patron_id, loan.title_id, session)

    async def _revoked(
        self, revocation: dict[str, Any], patron_id: str, title_id: str, session: AsyncClientSession
    ) -> None:
        revoked_at = utc(revocation["revoked_at"])
        notice = Notice(
            revocation["event_id"],
            NoticeKind.LICENSE_REVOKED,
            patron_id,
            revoked_at or self.notifier.clock(),
            {
                "title": await self.notifier.projections.title(title_id, session),
                "reason": revocation["reason"],
                "revoked_at": revoked_at,
            },
        )
        await self.notifier.notify(notice, session)
