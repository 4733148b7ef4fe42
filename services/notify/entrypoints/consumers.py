"""Notify's consumer group: which events it reads and who handles them."""

from __future__ import annotations

from notify.service_layer.handlers import NotifyHandlers
from sachso.events.v1 import drm_events_pb2
from sachso.events.v1 import lending_events_pb2 as lending
from sachso.kit.consumer import HandlerRegistry
from sachso.kit.topics import DRM_EVENTS, LENDING_EVENTS

GROUP = "notify"


def notify_consumers(handlers: NotifyHandlers) -> HandlerRegistry:
    registry = HandlerRegistry(GROUP, [LENDING_EVENTS.name, DRM_EVENTS.name])
    registry.register(lending.PatronRegistered, handlers.patron_registered)
    registry.register(lending.EmailVerificationRequested, handlers.email_verification_requested)
    registry.register(lending.PatronApproved, handlers.patron_approved)
    registry.register(lending.PatronRejected, handlers.patron_rejected)
    registry.register(lending.TitleAdded, handlers.title_added)
    registry.register(lending.TitleUpdated, handlers.title_updated)
    registry.register(lending.LoanCreated, handlers.loan_created)
    registry.register(lending.LoanRenewed, handlers.loan_renewed)
    registry.register(lending.LoanReturned, handlers.loan_returned)
    registry.register(lending.LoanExpired, handlers.loan_expired)
    registry.register(lending.HoldReady, handlers.hold_ready)
    registry.register(lending.HoldExpired, handlers.hold_expired)
    registry.register(lending.HoldCancelled, handlers.hold_cancelled)
    registry.register(drm_events_pb2.LicenseRevoked, handlers.license_revoked)
    return registry
