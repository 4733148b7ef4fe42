"""Reader cards: remote applications, my card and PIN, and the applications staff decide on."""

from __future__ import annotations

from fastapi import APIRouter, Response

from lending.domain.patrons import CardStatus
from lending.entrypoints.dependencies import Patron, Staff
from lending.entrypoints.schemas import (
    ApplicationIn,
    ApplicationOut,
    DecisionIn,
    PatronOut,
    PinChangeIn,
    VerifyIn,
)
from lending.service_layer.cards import Cards
from lending.service_layer.directory import Directory
from lending.service_layer.staff import ensure_may_manage
from sachso.kit.auth import Principal
from sachso.kit.errors import NotFound
from sachso.kit.http import ClientAddress


def cards_router(cards: Cards, directory: Directory) -> APIRouter:
    router = APIRouter(tags=["reader cards"])

    @router.post("/v1/card-applications", status_code=201, summary="Apply for a reader card remotely")
    async def apply(body: ApplicationIn, client: ClientAddress) -> ApplicationOut:
        application = await cards.apply(
            library_id=body.library_id,
            display_name=body.display_name,
            email=body.email,
            pin=body.pin,
            preferred_language=body.preferred_language,
            client=client,
        )
        return ApplicationOut(application_id=application.patron_id, status=application.status)

    @router.post("/v1/card-applications/{application_id}/verify", summary="Verify the email with the emailed code")
    async def verify(application_id: str, body: VerifyIn) -> ApplicationOut:
        application = await cards.verify_email(application_id, body.code)
        return ApplicationOut(application_id=application.patron_id, status=application.status)

    @router.get("/v1/me", summary="My reader card")
    async def me(patron: Patron) -> PatronOut:
        found = await directory.patron(patron.subject)
        if found is None:
            raise NotFound("no reader card for this account")
        return PatronOut.model_validate(found, from_attributes=True)

    @router.put("/v1/me/pin", status_code=204, summary="Change my PIN (my other devices must sign in again)")
    async def change_pin(patron: Patron, body: PinChangeIn) -> Response:
        await cards.change_pin(patron.subject, body.current_pin, body.new_pin)
        return Response(status_code=204)

    @router.post("/v1/me/sign-out-everywhere", status_code=204, summary="End my sessions on every device")
    async def sign_out_everywhere(patron: Patron) -> Response:
        await cards.sign_out_everywhere(patron.subject)
        return Response(status_code=204)

    @router.get("/v1/libraries/{library_id}/card-applications", summary="Applications waiting for this library")
    async def pending(
        staff: Staff, library_id: str, status: CardStatus = CardStatus.PENDING_APPROVAL
    ) -> list[PatronOut]:
        ensure_may_manage(staff, library_id, await directory.network())
        applicants = await directory.applications(library_id, status)
        return [PatronOut.model_validate(applicant, from_attributes=True) for applicant in applicants]

    async def decide(staff: Principal, library_id: str, application_id: str, approve: bool, reason: str) -> PatronOut:
        ensure_may_manage(staff, library_id, await directory.network())
        if await directory.patron_of(library_id, application_id) is None:
            raise NotFound(f"library {library_id} has no application {application_id}")
        decided = await cards.decide(application_id, approve=approve, reason=reason)
        return PatronOut.model_validate(decided, from_attributes=True)

    @router.post("/v1/libraries/{library_id}/card-applications/{application_id}/approve")
    async def approve(staff: Staff, library_id: str, application_id: str) -> PatronOut:
        return await decide(staff, library_id, application_id, True, "")

    @router.post("/v1/libraries/{library_id}/card-applications/{application_id}/reject")
    async def reject(staff: Staff, library_id: str, application_id: str, body: DecisionIn) -> PatronOut:
        return await decide(staff, library_id, application_id, False, body.reason)

    return router
