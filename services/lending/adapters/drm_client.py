"""Asking DRM over gRPC, as a service: the patron's hashed LCP passphrase for OPDS automatic key retrieval, and
streaming tokens for partner deployments' patrons (ODL)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import grpc

from sachso.drm.v1 import drm_service_pb2 as pb
from sachso.drm.v1 import drm_service_pb2_grpc as pb_grpc
from sachso.kit.auth import Role, TokenIssuer
from sachso.kit.errors import Conflict, DependencyUnavailable, NotFound

log = logging.getLogger(__name__)


class DrmClient:
    def __init__(self, channel: grpc.aio.Channel, issuer: TokenIssuer) -> None:
        self.stub = pb_grpc.DrmServiceStub(channel)
        self.issuer = issuer

    def _metadata(self) -> tuple[tuple[str, str]]:
        token = self.issuer.issue("lending", audience="sachso", roles=[Role.SERVICE], ttl_seconds=60)
        return (("authorization", f"Bearer {token}"),)

    async def issue(self, loan_id: str, patron_id: str, publication_id: str) -> tuple[str, datetime]:
        """A streaming token of the loan (:class:`lending.service_layer.odl_lending.StreamingTokens`)."""
        request = pb.IssueStreamingTokenRequest(loan_id=loan_id, patron_id=patron_id, publication_id=publication_id)
        try:
            answer = await self.stub.IssueStreamingToken(request, metadata=self._metadata(), timeout=5)
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code is grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"DRM: {error.details()}") from None
            if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED):
                raise Conflict(f"DRM: {error.details()}") from None
            raise DependencyUnavailable(f"DRM did not give a streaming token ({code.name})") from None
        return answer.token, answer.expires_at.ToDatetime(tzinfo=UTC)

    async def hashed_passphrase(self, patron_id: str) -> str | None:
        """The hex user key, or None when unset or DRM does not answer (the link then goes without it)."""
        try:
            answer = await self.stub.GetHashedPassphrase(
                pb.GetHashedPassphraseRequest(patron_id=patron_id), metadata=self._metadata(), timeout=2
            )
        except grpc.aio.AioRpcError as error:
            log.warning("DRM did not give the hashed passphrase", extra={"code": error.code().name})
            return None
        return answer.hashed_passphrase or None
