"""Asking lending over gRPC, as a service: a loan DRM has not heard of yet, may this loan be renewed, renew it."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc

from drm.domain.licences import LoanFacts
from sachso.kit.auth import Role, TokenIssuer
from sachso.kit.errors import DependencyUnavailable, NotFound, PreconditionFailed
from sachso.lending.v1 import lending_service_pb2 as pb
from sachso.lending.v1 import lending_service_pb2_grpc as pb_grpc


class LendingClient:
    def __init__(self, channel: grpc.aio.Channel, issuer: TokenIssuer) -> None:
        self.stub = pb_grpc.LendingServiceStub(channel)
        self.issuer = issuer

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        token = self.issuer.issue("drm", audience="sachso", roles=[Role.SERVICE], ttl_seconds=60)
        return (("authorization", f"Bearer {token}"),)

    async def active_loan(self, loan_id: str) -> LoanFacts | None:
        """The loan as lending has it now, or None when lending has no active loan ``loan_id``."""
        try:
            answer = await self.stub.GetLoan(pb.GetLoanRequest(loan_id=loan_id), metadata=self._metadata(), timeout=3)
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.NOT_FOUND:
                return None
            raise DependencyUnavailable(f"lending did not answer: {error.code().name}") from None
        loan = answer.loan
        return LoanFacts(
            loan_id=loan.loan_id,
            patron_id=loan.patron_id,
            publication_id=loan.publication_id,
            starts_at=loan.starts_at.ToDatetime(tzinfo=UTC),
            due_at=loan.due_at.ToDatetime(tzinfo=UTC),
            online_only=loan.online_only,
            local_document=loan.local_document,
        )

    async def renew(self, loan_id: str) -> datetime:
        """Renew the loan in lending (which applies its rules); its new due time."""
        try:
            check = await self.stub.CheckRenewal(
                pb.CheckRenewalRequest(loan_id=loan_id), metadata=self._metadata(), timeout=5
            )
            if not check.allowed:
                raise PreconditionFailed(check.reason or "lending does not renew this loan")
            renewed = await self.stub.RenewLoan(
                pb.RenewLoanRequest(loan_id=loan_id), metadata=self._metadata(), timeout=5
            )
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.NOT_FOUND:
                raise NotFound(error.details() or "no such loan") from None
            if error.code() is grpc.StatusCode.FAILED_PRECONDITION:
                raise PreconditionFailed(error.details() or "lending does not renew this loan") from None
            raise DependencyUnavailable(f"lending did not answer: {error.code().name}") from None
        return renewed.loan.due_at.ToDatetime(tzinfo=UTC)
