"""Kafka client factories and topic administration (aiokafka).

Delivery is at-least-once: producers wait for all in-sync replicas (``acks=all``) and consumers commit after
handling, relying on idempotent handlers. Kafka transactions and idempotent producers are not used (the local
Kafka-protocol broker does not support aiokafka's InitProducerId, and the outbox makes them unnecessary).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from sachso.kit.settings import KafkaSettings
from sachso.kit.topics import TopicSpec, prefixed

log = logging.getLogger(__name__)


def connection_options(settings: KafkaSettings) -> dict[str, Any]:
    """What every client (producer, consumer, admin) needs to reach the cluster: servers, TLS and SASL."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=settings.kafka_ssl_ca_file or None,
            certfile=settings.kafka_ssl_cert_file or None,
            keyfile=settings.kafka_ssl_key_file or None,
        )
    if settings.kafka_security_protocol.startswith("SASL_"):
        assert settings.kafka_sasl_password is not None  # the settings refuse SASL without one
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password.get_secret_value(),
        }
    return options


def create_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **connection_options(settings),
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        request_timeout_ms=10_000,
    )


def create_consumer(settings: KafkaSettings, group: str, topics: Iterable[str]) -> AIOKafkaConsumer:
    """A consumer in ``group`` (both already prefixed) that commits offsets only when told to."""
    return AIOKafkaConsumer(
        *topics,
        **connection_options(settings),
        client_id=f"{settings.service_name}-{group}",
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        metadata_max_age_ms=30_000,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )


def create_admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection_options(settings), client_id=settings.service_name)


async def ensure_topics(settings: KafkaSettings, specs: Iterable[TopicSpec]) -> None:
    """Create the topics that do not exist yet (existing ones are left as they are)."""
    admin = create_admin(settings)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=prefixed(settings.kafka_topic_prefix, spec.name),
                num_partitions=spec.partitions,
                replication_factor=1 if settings.environment != "production" else 3,
                topic_configs={"retention.ms": str(spec.retention_ms)},
            )
            for spec in specs
            if prefixed(settings.kafka_topic_prefix, spec.name) not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another instance")
            log.info("created topics", extra={"topics": [topic.name for topic in missing]})
    finally:
        await admin.close()
