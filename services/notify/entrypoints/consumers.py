"""Notify's consumer group: which events it reads and who handles them."""

from __future__ import annotations

from notify.service_layer.handlers import NotifyHandlers
from sachso.events.v1 import lending_events_pb2
from sachso.kit.consumer import HandlerRegistry
from sachso.kit.topics import LENDING_EVENTS

GROUP = "notify"


def notify_consumers(handlers: NotifyHandlers) -> HandlerRegistry:
    registry = HandlerRegistry(GROUP, [LENDING_EVENTS.name])
    registry.register(lending_events_pb2.PatronApproved, handlers.patron_approved)
    return registry
