"""The clients every service builds the same way, owned by one async context manager.

A service's own ``bootstrap.py`` enters :func:`platform_infrastructure`, adds its handlers, routers and
servicers, and yields a :class:`~sachso.kit.runtime.ServiceProcess`. Nothing else creates clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from fastapi import APIRouter
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from sachso.kit.auth import TokenVerifier
from sachso.kit.consumer import HandlerRegistry, IdempotentConsumer
from sachso.kit.grpc_server import GrpcServer
from sachso.kit.health import DependencyProbe, ReadinessCheck, kafka_check, mongo_check
from sachso.kit.http import PrincipalCheck, create_http_app
from sachso.kit.kafka import create_consumer, create_producer, ensure_topics
from sachso.kit.mongo import create_mongo_client
from sachso.kit.outbox import KafkaEventPublisher, Outbox, OutboxRelay
from sachso.kit.runtime import ServiceProcess, Worker
from sachso.kit.settings import PlatformSettings
from sachso.kit.topics import DOMAIN_TOPICS, TopicSpec, dead_letter_topic, retry_topic

log = logging.getLogger(__name__)

__version__ = "0.1.0"

Document = dict[str, Any]


@dataclass
class Infrastructure:
    """The shared clients of one service process and the workers and checks built from them."""

    settings: PlatformSettings
    mongo: AsyncMongoClient[Document]
    database: AsyncDatabase[Document]
    producer: AIOKafkaProducer
    http: httpx.AsyncClient
    verifier: TokenVerifier
    outbox: Outbox
    # What the pod needs to serve (gates /readyz): its database.
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    # What it uses but must not gate on (Kafka, S3): probed in the background, reported and alerted on.
    dependencies: dict[str, ReadinessCheck] = field(default_factory=dict)
    workers: dict[str, Worker] = field(default_factory=dict)

    def add_consumer(self, registry: HandlerRegistry) -> IdempotentConsumer:
        """Consume ``registry.topics`` as ``registry.group`` in a supervised worker."""
        consumer = IdempotentConsumer(
            registry,
            client=self.mongo,
            database=self.database,
            dead_letters=self.producer,
            topic_prefix=self.settings.kafka_topic_prefix,
            max_attempts=self.settings.consumer_max_attempts,
            initial_backoff_seconds=self.settings.consumer_initial_backoff_seconds,
        )

        async def work(stop: asyncio.Event) -> None:
            await consumer.run(create_consumer(self.settings, consumer.group, consumer.subscribed_topics), stop)

        self.workers[f"consumer:{registry.group}"] = work
        return consumer

    def service_process(
        self,
        *,
        title: str,
        description: str,
        routers: Iterable[APIRouter] = (),
        grpc_services: Iterable[str] = (),
        register_grpc: Callable[[grpc.aio.Server], None] = lambda server: None,
        untraced: Iterable[str] = (),
        principal_check: PrincipalCheck | None = None,
    ) -> ServiceProcess:
        """The HTTP app and gRPC server of this service, with its workers, ready for the runtime."""
        probe = DependencyProbe(self.dependencies)
        self.workers["dependency-probe"] = probe.run
        app = create_http_app(
            title=title,
            version=__version__,
            description=description,
            readiness=self.readiness,
            dependencies=probe.snapshot,
            untraced=list(untraced),
            cors_origins=[origin.strip() for origin in self.settings.cors_origins.split(",") if origin.strip()],
            request_deadline_seconds=self.settings.request_deadline_seconds,
        )
        app.state.token_verifier = self.verifier
        app.state.trusted_proxy_hops = self.settings.trusted_proxy_hops
        app.state.principal_check = principal_check
        for router in routers:
            app.include_router(router)
        grpc_server = GrpcServer(
            host=self.settings.grpc_host,
            port=self.settings.grpc_port,
            service_names=grpc_services,
            register=register_grpc,
            verifier=self.verifier,
        )
        return ServiceProcess(settings=self.settings, http_app=app, grpc_server=grpc_server, workers=self.workers)


async def _start_producer(producer: AIOKafkaProducer, attempts: int = 30) -> None:
    for attempt in range(1, attempts + 1):
        try:
            await producer.start()
            return
        except KafkaConnectionError:
            if attempt == attempts:
                raise
            log.warning("Kafka not reachable yet, retrying", extra={"attempt": attempt})
            await asyncio.sleep(1.0)


@asynccontextmanager
async def platform_infrastructure(
    settings: PlatformSettings, *, consumer_groups: Iterable[str] = ()
) -> AsyncIterator[Infrastructure]:
    """Connect to MongoDB and Kafka, make sure topics and indexes exist, and start the outbox relay."""
    async with AsyncExitStack() as stack:
        mongo = create_mongo_client(settings)
        stack.push_async_callback(mongo.close)
        database = mongo[settings.mongo_database]
        topics: list[TopicSpec] = list(DOMAIN_TOPICS)
        for group in consumer_groups:
            topics += [retry_topic(group), dead_letter_topic(group)]
        await ensure_topics(settings, topics)
        producer = create_producer(settings)
        await _start_producer(producer)
        stack.push_async_callback(producer.stop)
        http = await stack.enter_async_context(httpx.AsyncClient())
        verifier = TokenVerifier(
            settings.jwks_url_list,
            issuers=settings.jwt_issuer_list,
            audience=settings.jwt_audience,
            http=http,
            cache_seconds=settings.jwks_cache_seconds,
            grants=settings.issuer_grants,
        )
        outbox = Outbox(mongo, database, source=f"/sachso/{settings.service_name}")
        await outbox.ensure_indexes()
        relay = OutboxRelay(
            outbox,
            KafkaEventPublisher(producer),
            topic_prefix=settings.kafka_topic_prefix,
            poll_seconds=settings.outbox_poll_seconds,
        )
        yield Infrastructure(
            settings=settings,
            mongo=mongo,
            database=database,
            producer=producer,
            http=http,
            verifier=verifier,
            outbox=outbox,
            readiness={"mongodb": mongo_check(mongo)},
            dependencies={"kafka": kafka_check(producer)},
            workers={"outbox-relay": relay.run},
        )
