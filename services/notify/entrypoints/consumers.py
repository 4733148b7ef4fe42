"""Notify's consumer group: which events it reads and who handles them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message
from pymongo.asynchronous.client_session import AsyncClientSession

from notify.service_layer.handlers import NotifyHandlers
from notify.service_layer.unit_of_work import NotifyUnitOfWork
from sachso.events.v1 import drm_events_pb2
from sachso.events.v1 import lending_events_pb2 as lending
from sachso.kit.consumer import HandlerRegistry, TransactionScope, TypedHandler
from sachso.kit.events import ReceivedEvent
from sachso.kit.topics import DRM_EVENTS, LENDING_EVENTS

GROUP = "notify"
M = TypeVar("M", bound=Message)
# The unit of work of a handler: joined to the consumer's transaction, which records the event as handled.
JoinedUnitOfWork = Callable[[AsyncClientSession], NotifyUnitOfWork]
UseCase = Callable[[ReceivedEvent[M], NotifyUnitOfWork], Awaitable[None]]


def notify_consumers(
    handlers: NotifyHandlers, joined: JoinedUnitOfWork, *, batch_size: int = 1, scope: TransactionScope | None = None
) -> HandlerRegistry:
    """Notify's group; ``batch_size`` events per transaction (a burst of hold-ready events is the usual load)."""
    registry = HandlerRegistry(GROUP, [LENDING_EVENTS.name, DRM_EVENTS.name], batch_size=batch_size, scope=scope)

    def in_unit_of_work(use_case: UseCase[M]) -> TypedHandler[M]:
        async def handle(event: ReceivedEvent[M], session: AsyncClientSession) -> None:
            await joined(session).run(lambda uow: use_case(event, uow))

        return handle

    registry.register(lending.PatronRegistered, in_unit_of_work(handlers.patron_registered))
    registry.register(lending.EmailVerificationRequested, in_unit_of_work(handlers.email_verification_requested))
    registry.register(lending.PatronApproved, in_unit_of_work(handlers.patron_approved))
    registry.register(lending.PatronRejected, in_unit_of_work(handlers.patron_rejected))
    registry.register(lending.TitleAdded, in_unit_of_work(handlers.title_added))
    registry.register(lending.TitleUpdated, in_unit_of_work(handlers.title_updated))
    registry.register(lending.LoanCreated, in_unit_of_work(handlers.loan_created))
    registry.register(lending.LoanRenewed, in_unit_of_work(handlers.loan_renewed))
    registry.register(lending.LoanReturned, in_unit_of_work(handlers.loan_returned))
    registry.register(lending.LoanExpired, in_unit_of_work(handlers.loan_expired))
    registry.register(lending.HoldReady, in_unit_of_work(handlers.hold_ready))
    registry.register(lending.HoldExpired, in_unit_of_work(handlers.hold_expired))
    registry.register(lending.HoldCancelled, in_unit_of_work(handlers.hold_cancelled))
    registry.register(drm_events_pb2.LicenseRevoked, in_unit_of_work(handlers.license_revoked))
    return registry
