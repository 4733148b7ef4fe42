"""Notify's gRPC service for other front ends: how many unread messages a patron has."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from notify.adapters.inbox_repository import MongoInbox
from sachso.kit.auth import Role
from sachso.kit.errors import Forbidden, InvalidInput
from sachso.kit.grpc_server import current_principal
from sachso.notify.v1 import notify_service_pb2 as notify_pb2
from sachso.notify.v1 import notify_service_pb2_grpc as notify_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, inbox: MongoInbox) -> None:
        self.inbox = inbox

    async def CountUnread(
        self, request: notify_pb2.CountUnreadRequest, context: Context
    ) -> notify_pb2.CountUnreadResponse:
        """A platform service may ask about anyone; a patron only about herself."""
        if not request.patron_id:
            raise InvalidInput("patron_id is required")
        principal = current_principal()
        if Role.SERVICE not in principal.roles and principal.subject != request.patron_id:
            raise Forbidden("a patron may only count her own messages")
        unread, newest_at = await self.inbox.unread(request.patron_id)
        response = notify_pb2.CountUnreadResponse(unread=unread)
        if newest_at is not None:
            stamp = Timestamp()
            stamp.FromDatetime(newest_at)
            response.newest_at.CopyFrom(stamp)
        return response
