"""Loans and holds: mine (a patron only ever sees her own), and a library's loans for staff."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from lending.entrypoints.dependencies import Patron, Staff
from lending.entrypoints.schemas import (
    CheckoutIn,
    HoldIn,
    HoldOut,
    LoanOut,
    StaffLoanOut,
    SuspendIn,
)
from lending.service_layer.circulation import Circulation
from lending.service_layer.directory import Directory
from lending.service_layer.staff import ensure_may_manage


def circulation_router(circulation: Circulation, directory: Directory) -> APIRouter:
    router = APIRouter(tags=["loans and holds"])

    @router.get("/v1/loans", summary="My loans")
    async def my_loans(patron: Patron, include_ended: bool = False) -> list[LoanOut]:
        return [LoanOut.of(loan) for loan in await circulation.loans_of(patron.subject, active_only=not include_ended)]

    @router.post(
        "/v1/loans",
        status_code=201,
        summary="Borrow a title (send an Idempotency-Key to retry safely: the same key never lends twice)",
    )
    async def checkout(
        patron: Patron,
        body: CheckoutIn,
        response: Response,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
    ) -> LoanOut:
        done = await circulation.checkout_once(patron.subject, body.title_id, body.period, idempotency_key)
        if done.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return LoanOut.of(done.loan)

    @router.post("/v1/loans/{loan_id}/renew", summary="Renew my loan")
    async def renew(patron: Patron, loan_id: str) -> LoanOut:
        return LoanOut.of(await circulation.renew(loan_id, patron.subject))

    @router.post("/v1/loans/{loan_id}/return", summary="Return my loan early")
    async def give_back(patron: Patron, loan_id: str) -> LoanOut:
        return LoanOut.of(await circulation.return_loan(loan_id, patron.subject))

    @router.get("/v1/holds", summary="My holds, with position and estimated wait")
    async def my_holds(patron: Patron) -> list[HoldOut]:
        return [HoldOut.of(view) for view in await circulation.holds_of(patron.subject)]

    @router.post("/v1/holds", status_code=201, summary="Join a title's queue")
    async def place(patron: Patron, body: HoldIn) -> HoldOut:
        return HoldOut.of(await circulation.place_hold(patron.subject, body.title_id, auto_checkout=body.auto_checkout))

    @router.delete("/v1/holds/{hold_id}", status_code=204, summary="Leave the queue")
    async def cancel(patron: Patron, hold_id: str) -> Response:
        await circulation.cancel_hold(hold_id, patron.subject)
        return Response(status_code=204)

    @router.post("/v1/holds/{hold_id}/suspend", summary="Keep my place but skip me for some days")
    async def suspend(patron: Patron, hold_id: str, body: SuspendIn) -> HoldOut:
        until = circulation.clock() + timedelta(days=body.days)
        return HoldOut.of(await circulation.suspend_hold(hold_id, patron.subject, until))

    @router.post("/v1/holds/{hold_id}/resume", summary="End a suspension")
    async def resume(patron: Patron, hold_id: str) -> HoldOut:
        return HoldOut.of(await circulation.suspend_hold(hold_id, patron.subject, None))

    @router.get("/v1/libraries/{library_id}/loans", summary="A library's loans, with title and borrower (staff)")
    async def library_loans(
        staff: Staff, library_id: str, status: Annotated[str, Query(pattern="^(active|returned|expired)$")] = "active"
    ) -> list[StaffLoanOut]:
        ensure_may_manage(staff, library_id, await directory.network())
        return [
            StaffLoanOut(
                **LoanOut.of(shown.loan).model_dump(),
                title=shown.title,
                borrower_name=shown.borrower.display_name if shown.borrower else "",
                borrower_card=shown.borrower.card_number if shown.borrower else None,
            )
            for shown in await directory.library_loans(library_id, status)
        ]

    return router
