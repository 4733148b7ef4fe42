"""DRM's gRPC service: streaming tokens and content keys for the reader service."""

from __future__ import annotations

from typing import Any

import grpc

from drm.service_layer.licences import Licences
from drm.service_layer.protection import Protection
from sachso.drm.v1 import drm_service_pb2 as pb
from sachso.drm.v1 import drm_service_pb2_grpc as pb_grpc
from sachso.kit.auth import Role
from sachso.kit.errors import Forbidden
from sachso.kit.grpc_server import current_principal

Context = grpc.aio.ServicerContext[Any, Any]


def _service_only() -> None:
    if Role.SERVICE not in current_principal().roles:
        raise Forbidden("only platform services may call DRM over gRPC")


class DrmServicer(pb_grpc.DrmServiceServicer):
    def __init__(self, licences: Licences, protection: Protection) -> None:
        self.licences = licences
        self.protection = protection

    async def IssueStreamingToken(
        self, request: pb.IssueStreamingTokenRequest, context: Context
    ) -> pb.IssueStreamingTokenResponse:
        _service_only()
        grant = await self.licences.streaming_token(request.loan_id, request.patron_id)
        response = pb.IssueStreamingTokenResponse(token=grant.token)
        response.expires_at.FromDatetime(grant.expires_at)
        return response

    async def GetContentKey(self, request: pb.GetContentKeyRequest, context: Context) -> pb.GetContentKeyResponse:
        _service_only()
        key, key_id = await self.protection.content_key(request.publication_id)
        return pb.GetContentKeyResponse(content_key=key, content_key_id=key_id)

    async def GetHashedPassphrase(
        self, request: pb.GetHashedPassphraseRequest, context: Context
    ) -> pb.GetHashedPassphraseResponse:
        _service_only()
        secret = await self.licences.passphrase(request.patron_id)
        if secret is None:
            return pb.GetHashedPassphraseResponse()
        return pb.GetHashedPassphraseResponse(hashed_passphrase=secret.user_key.hex(), hint=secret.hint)
