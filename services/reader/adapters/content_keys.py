"""Content keys of protected publications, asked of DRM over gRPC as a service (and remembered a while)."""

from __future__ import annotations

import grpc
from cachetools import TTLCache

from sachso.drm.v1 import drm_service_pb2 as pb
from sachso.drm.v1 import drm_service_pb2_grpc as pb_grpc
from sachso.kit.auth import Role, TokenIssuer
from sachso.kit.errors import DependencyUnavailable


class ContentKeys:
    def __init__(self, channel: grpc.aio.Channel, issuer: TokenIssuer) -> None:
        self.stub = pb_grpc.DrmServiceStub(channel)
        self.issuer = issuer
        self._keys: TTLCache[str, bytes] = TTLCache(maxsize=1024, ttl=600)

    async def get(self, publication_id: str) -> bytes | None:
        key = self._keys.get(publication_id)
        if key is not None:
            return key
        token = self.issuer.issue("reader", audience="sachso", roles=[Role.SERVICE], ttl_seconds=60)
        try:
            answer = await self.stub.GetContentKey(
                pb.GetContentKeyRequest(publication_id=publication_id),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=5,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.NOT_FOUND:
                return None
            raise DependencyUnavailable(f"DRM did not give the content key: {error.code().name}") from None
        self._keys[publication_id] = answer.content_key
        return answer.content_key
