"""The one place notify's clients, handlers, workers, routes and servicers are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import grpc

from notify.adapters.change_streams import wake_on_inserts
from notify.adapters.deliveries import MongoDeliveries
from notify.adapters.email import SmtpMailer
from notify.adapters.inbox_repository import MongoInbox
from notify.adapters.mongo_unit_of_work import ConsumerTransactions, MongoNotifyUnitOfWork, NotifyStores
from notify.adapters.projections import MongoProjections
from notify.adapters.reminders import MongoReminders
from notify.adapters.subscriptions import MongoSubscriptions
from notify.adapters.templates import TemplateRenderer
from notify.adapters.webpush import PublicAddressResolver, PushEndpointGuard, WebPushSender, load_vapid_key
from notify.entrypoints.consumers import notify_consumers
from notify.entrypoints.grpc_api import NotifyServicer
from notify.entrypoints.http import inbox_router, preferences_router, push_router
from notify.service_layer.handlers import NotifyHandlers
from notify.service_layer.inbox_feed import InboxFeed
from notify.service_layer.notifier import Notifier, ReminderLeads
from notify.service_layer.patron_settings import NotificationPreferences, PatronInbox, PushSubscriptions
from notify.service_layer.reminders import ReminderScheduler
from notify.service_layer.sender import DeliverySender, RetryPolicy
from notify.settings import NotifySettings
from sachso.kit.bootstrap import platform_infrastructure
from sachso.kit.runtime import ServiceProcess, run_service
from sachso.kit.settings import load_settings
from sachso.notify.v1 import notify_service_pb2, notify_service_pb2_grpc


@asynccontextmanager
async def build(settings: NotifySettings) -> AsyncIterator[ServiceProcess]:
    async with (
        platform_infrastructure(settings) as infrastructure,
        AsyncExitStack() as stack,
    ):
        database = infrastructure.database
        inbox = MongoInbox(database)
        projections = MongoProjections(database, default_time_zone=settings.default_time_zone)
        deliveries = MongoDeliveries(database)
        reminders = MongoReminders(database)
        subscriptions = MongoSubscriptions(database)
        for repository in (inbox, projections, deliveries, reminders, subscriptions):
            await repository.ensure_indexes()

        mailer = SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_sender,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            use_tls=settings.smtp_tls,
            start_tls=settings.smtp_starttls,
            timeout_seconds=settings.smtp_timeout_seconds,
            connections=settings.smtp_connections,
        )
        stack.push_async_callback(mailer.close)
        push_guard = PushEndpointGuard(settings.push_endpoint_policy, PublicAddressResolver())
        pusher: WebPushSender | None = None
        if settings.vapid_private_key_file:
            push_http = await stack.enter_async_context(push_guard.http_session())
            pusher = WebPushSender(
                load_vapid_key(settings.vapid_private_key_file),
                subject=settings.vapid_subject,
                http=push_http,
                policy=settings.push_endpoint_policy,
                ttl_seconds=settings.push_ttl_seconds,
                timeout_seconds=settings.push_timeout_seconds,
            )

        stores = NotifyStores(projections, reminders, inbox, deliveries, subscriptions)
        outbox = infrastructure.outbox
        notifier = Notifier(
            renderer=TemplateRenderer(web_url=settings.web_app_url),
            leads=ReminderLeads(loan_due=settings.loan_due_reminder, hold_lapse=settings.hold_lapse_reminder),
            push_enabled=pusher is not None,
        )
        transactions = ConsumerTransactions(outbox, stores, push_enabled=pusher is not None)
        infrastructure.add_consumer(
            notify_consumers(
                NotifyHandlers(notifier),
                transactions.unit_of_work,
                batch_size=settings.consumer_batch_size,
                scope=transactions,
            )
        )
        infrastructure.workers["reminders"] = ReminderScheduler(
            reminders, lambda: MongoNotifyUnitOfWork(outbox, stores), notifier
        ).run
        infrastructure.workers["sender"] = DeliverySender(
            lambda: MongoNotifyUnitOfWork(outbox, stores),
            deliveries,
            mailer=mailer,
            pusher=pusher,
            retry=RetryPolicy(
                max_attempts=settings.delivery_max_attempts,
                initial=timedelta(seconds=settings.delivery_initial_backoff_seconds),
                maximum=timedelta(seconds=settings.delivery_max_backoff_seconds),
            ),
            batch_size=settings.sender_batch_size,
            concurrency=settings.sender_concurrency,
            batches_in_flight=settings.sender_batches_in_flight,
            poll_seconds=settings.sender_poll_seconds,
            wake_on_new=lambda wakeup, stop: wake_on_inserts(
                deliveries.collection, wakeup, stop, retry_seconds=settings.sender_poll_seconds
            ),
        ).run
        feed = InboxFeed(inbox, poll_seconds=settings.inbox_stream_poll_seconds)
        infrastructure.workers["inbox-feed"] = feed.run
        servicer = NotifyServicer(inbox)

        def register_grpc(server: grpc.aio.Server) -> None:
            notify_service_pb2_grpc.add_NotifyServiceServicer_to_server(servicer, server)

        yield infrastructure.service_process(
            title="Sách Số — notify",
            description="Hold ready, loan due, card approved: email, Web Push and the in-app inbox, in the "
            "patron's language, at most once per event and channel.",
            routers=[
                inbox_router(PatronInbox(inbox), feed, ping_seconds=settings.inbox_stream_ping_seconds),
                preferences_router(NotificationPreferences(projections)),
                push_router(PushSubscriptions(subscriptions, push_guard, pusher.public_key if pusher else None)),
            ],
            grpc_services=[notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name],
            register_grpc=register_grpc,
        )


def main() -> None:
    run_service("notify", lambda: load_settings(NotifySettings), build)
