"""The clients every service builds the same way, owned by one async context manager.

A service's own ``bootstrap.py`` enters :func:`platform_infrastructure`, adds its handlers, routers and
servicers, and yields a :class:`~sachso.kit.runtime.ServiceProcess`. Nothing else creates clients.

Start-up needs only the database: Kafka (topics, the producer) and S3 (the bucket) are
:class:`~sachso.kit.workers.Prerequisite` s set up in the background with backoff, so a restart or a scale-out
during a broker or S3 outage starts, serves what needs only the database and takes writes (their events wait in
the outbox); the outbox relay and the consumers begin when the broker appears.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import httpx
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from sachso.kit.auth import TokenVerifier
from sachso.kit.consumer import HandlerRegistry, IdempotentConsumer
from sachso.kit.grpc_server import GrpcServer
from sachso.kit.health import DependencyProbe, ReadinessCheck, kafka_check, mongo_check, s3_check
from sachso.kit.http import PrincipalCheck, create_http_app
from sachso.kit.kafka import create_consumer, create_producer, ensure_topics
from sachso.kit.mongo import create_mongo_client
from sachso.kit.outbox import KafkaEventPublisher, Outbox, OutboxRelay
from sachso.kit.runtime import ServiceProcess
from sachso.kit.s3 import ensure_bucket
from sachso.kit.settings import PlatformSettings
from sachso.kit.topics import DOMAIN_TOPICS, TopicSpec, dead_letter_topic, retry_topic
from sachso.kit.workers import Prerequisite, Worker

if TYPE_CHECKING:  # stubs only: the images carry no dev packages
    from types_aiobotocore_s3 import S3Client

log = logging.getLogger(__name__)

__version__ = "0.1.0"

Document = dict[str, Any]


@dataclass
class Infrastructure:
    """The shared clients of one service process and the workers and checks built from them."""

    settings: PlatformSettings
    mongo: AsyncMongoClient[Document]
    database: AsyncDatabase[Document]
    producer: AIOKafkaProducer  # sends only once ``kafka`` is set up
    kafka: Prerequisite  # the topics exist and the producer has started
    topics: list[TopicSpec]  # what the Kafka set-up makes: the domain topics, and each consumer group's own
    http: httpx.AsyncClient
    verifier: TokenVerifier
    outbox: Outbox
    # What the pod needs to serve (gates /readyz): its database.
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    # What it uses but must not gate on (Kafka, S3): probed in the background, reported and alerted on.
    dependencies: dict[str, ReadinessCheck] = field(default_factory=dict)
    workers: dict[str, Worker] = field(default_factory=dict)

    def add_consumer(self, registry: HandlerRegistry) -> IdempotentConsumer:
        """Consume ``registry.topics`` as ``registry.group`` in a supervised worker, once Kafka is set up (with the
        group's retry and dead-letter topics: the one place a group is named)."""
        self.topics.extend([retry_topic(registry.group), dead_letter_topic(registry.group)])
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

        self.workers[f"consumer:{registry.group}"] = self.kafka.before(work)
        return consumer

    def add_bucket(self, s3: S3Client, bucket: str) -> None:
        """Make sure ``bucket`` exists, in the background until S3 answers; watch S3 as a dependency."""
        self.workers["s3-bucket"] = Prerequisite("the S3 bucket", lambda: ensure_bucket(s3, bucket)).run
        self.dependencies["s3"] = s3_check(s3, bucket)

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


@asynccontextmanager
async def platform_infrastructure(
    settings: PlatformSettings,
) -> AsyncIterator[Infrastructure]:
    """Connect to MongoDB and make sure the outbox's indexes exist; set Kafka up (topics, producer) in the
    background, and relay the outbox once it is."""
    async with AsyncExitStack() as stack:
        mongo = create_mongo_client(settings)
        stack.push_async_callback(mongo.close)
        database = mongo[settings.mongo_database]
        topics: list[TopicSpec] = list(DOMAIN_TOPICS)  # consumer groups add theirs before the set-up runs
        producer = create_producer(settings)
        stack.push_async_callback(producer.stop)

        async def set_up_kafka() -> None:
            await ensure_topics(settings, topics)
            await producer.start()

        kafka = Prerequisite("Kafka", set_up_kafka)
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
        broker_answers = kafka_check(producer)

        async def kafka_up() -> None:
            await kafka.check()
            await broker_answers()

        yield Infrastructure(
            settings=settings,
            mongo=mongo,
            database=database,
            producer=producer,
            kafka=kafka,
            topics=topics,
            http=http,
            verifier=verifier,
            outbox=outbox,
            readiness={"mongodb": mongo_check(mongo)},
            dependencies={"kafka": kafka_up},
            workers={"kafka": kafka.run, "outbox-relay": kafka.before(relay.run)},
        )
