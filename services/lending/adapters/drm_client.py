"""Asking DRM over gRPC, as a service: the patron's hashed LCP passphrase for OPDS automatic key retrieval."""

from __future__ import annotations

import logging

import grpc

from sachso.drm.v1 import drm_service_pb2 as pb
from sachso.drm.v1 import drm_service_pb2_grpc as pb_grpc
from sachso.kit.auth import Role, TokenIssuer

log = logging.getLogger(__name__)


class DrmClient:
    def __init__(self, channel: grpc.aio.Channel, issuer: TokenIssuer) -> None:
        self.stub = pb_grpc.DrmServiceStub(channel)
        self.issuer = issuer

    async def hashed_passphrase(self, patron_id: str) -> str | None:
        """The hex user key, or None when unset or DRM does not answer (the link then goes without it)."""
        token = self.issuer.issue("lending", audience="sachso", roles=[Role.SERVICE], ttl_seconds=60)
        try:
            answer = await self.stub.GetHashedPassphrase(
                pb.GetHashedPassphraseRequest(patron_id=patron_id),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=2,
            )
        except grpc.aio.AioRpcError as error:
            log.warning("DRM did not give the hashed passphrase", extra={"code": error.code().name})
            return None
        return answer.hashed_passphrase or None
