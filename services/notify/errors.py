"""What notify refuses. The kit maps these to problem details (HTTP) and gRPC status codes."""

from __future__ import annotations

from sachso.kit.errors import InvalidInput, NotFound, ServiceError


class NotifyError(ServiceError):
    problem = "notify-error"


class MessageNotFound(NotFound):
    problem = "inbox-message-not-found"
    title = "No such message in your inbox"


class SubscriptionNotFound(NotFound):
    problem = "push-subscription-not-found"
    title = "No such push subscription"


class PushNotConfigured(NotFound):
    problem = "push-not-configured"
    title = "Web Push is not configured on this server"


class InvalidPreferences(InvalidInput):
    problem = "invalid-notification-preferences"
    title = "These notification preferences are not valid"


class InvalidSubscription(InvalidInput):
    problem = "invalid-push-subscription"
    title = "This push subscription is not valid"


class PushEndpointRefused(InvalidSubscription):
    problem = "push-endpoint-refused"
    title = "Notify does not send to this push endpoint"
