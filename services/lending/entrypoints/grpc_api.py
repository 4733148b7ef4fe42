"""Lending's gRPC service for the other services: active loans, patron details, renewals."""

from __future__ import annotations

from typing import Any

import grpc

from lending.adapters.store import LendingStore
from lending.domain.odl import PARTNER_ACTIVE
from lending.domain.patrons import CardStatus
from lending.errors import LoanNotFound
from lending.service_layer.circulation import ACTIVE, Circulation, Loan
from lending.service_layer.clock import timestamp
from sachso.kit.auth import Role
from sachso.kit.errors import Forbidden, InvalidInput, NotFound
from sachso.kit.grpc_server import current_principal
from sachso.lending.v1 import lending_service_pb2 as lending_pb2
from sachso.lending.v1 import lending_service_pb2_grpc as lending_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]

_CARD_STATUS = {
    CardStatus.PENDING_VERIFICATION: lending_pb2.CARD_STATUS_PENDING,
    CardStatus.PENDING_APPROVAL: lending_pb2.CARD_STATUS_PENDING,
    CardStatus.ACTIVE: lending_pb2.CARD_STATUS_ACTIVE,
    CardStatus.REJECTED: lending_pb2.CARD_STATUS_REJECTED,
    CardStatus.BLOCKED: lending_pb2.CARD_STATUS_BLOCKED,
}


def _service_only() -> None:
    if Role.SERVICE not in current_principal().roles:
        raise Forbidden("only platform services may call lending over gRPC")


def _loan(loan: Loan, *, online_only: bool = False, local_document: bool = False) -> lending_pb2.Loan:
    return lending_pb2.Loan(
        loan_id=loan.id,
        patron_id=loan.patron_id,
        publication_id=loan.publication_id,
        starts_at=timestamp(loan.starts_at),
        due_at=timestamp(loan.due_at),
        renewals=loan.renewals,
        online_only=online_only,
        local_document=local_document,
    )


class LendingServicer(lending_pb2_grpc.LendingServiceServicer):
    def __init__(self, circulation: Circulation, store: LendingStore) -> None:
        self.circulation = circulation
        self.store = store

    async def GetActiveLoan(
        self, request: lending_pb2.GetActiveLoanRequest, context: Context
    ) -> lending_pb2.GetActiveLoanResponse:
        _service_only()
        if not request.patron_id or not request.publication_id:
            raise InvalidInput("patron_id and publication_id are required")
        loan = await self.circulation.active_loan_for_publication(request.patron_id, request.publication_id)
        if loan is None:
            raise LoanNotFound("the patron has no active loan of this publication")
        return lending_pb2.GetActiveLoanResponse(loan=_loan(loan))

    async def GetLoan(self, request: lending_pb2.GetLoanRequest, context: Context) -> lending_pb2.GetLoanResponse:
        _service_only()
        if not request.loan_id:
            raise InvalidInput("loan_id is required")
        loan = await self.circulation.loan(request.loan_id)
        if loan.status not in (ACTIVE, PARTNER_ACTIVE):  # a partner deployment's patron reads through ODL too
            raise LoanNotFound("the loan has ended")
        online_only, local_document = await self.store.title_reading(loan.title_id)
        return lending_pb2.GetLoanResponse(loan=_loan(loan, online_only=online_only, local_document=local_document))

    async def GetPatron(self, request: lending_pb2.GetPatronRequest, context: Context) -> lending_pb2.GetPatronResponse:
        _service_only()
        patron = await self.store.patron(request.patron_id)
        if patron is None:
            raise NotFound(f"no patron {request.patron_id}")
        status = _CARD_STATUS[patron.status]
        if status == lending_pb2.CARD_STATUS_ACTIVE and patron.borrowing_refusal(self.circulation.clock()):
            status = lending_pb2.CARD_STATUS_EXPIRED
        return lending_pb2.GetPatronResponse(
            patron_id=patron.id,
            library_id=patron.library_id,
            display_name=patron.display_name,
            email=patron.email,
            preferred_language=patron.preferred_language,
            time_zone=patron.time_zone,
            card_number=patron.card_number or "",
            card_status=status,
        )

    async def CheckRenewal(
        self, request: lending_pb2.CheckRenewalRequest, context: Context
    ) -> lending_pb2.CheckRenewalResponse:
        _service_only()
        new_due, reason = await self.circulation.renewal_check(request.loan_id)
        if new_due is None:
            return lending_pb2.CheckRenewalResponse(allowed=False, reason=reason)
        return lending_pb2.CheckRenewalResponse(allowed=True, renewed_due_at=timestamp(new_due))

    async def RenewLoan(self, request: lending_pb2.RenewLoanRequest, context: Context) -> lending_pb2.RenewLoanResponse:
        _service_only()
        return lending_pb2.RenewLoanResponse(loan=_loan(await self.circulation.renew(request.loan_id)))
