"""Every Kafka topic of the platform, with its key, partitions and retention: the one place they are listed.

Domain topics carry one producing service's events; the key is the aggregate id so one aggregate's events stay
ordered on one partition. Each consumer group also owns a retry topic (where replayed dead letters go, read only
by that group) and a dead-letter topic. Partition counts here are the local/default ones; the Helm chart's
values set production counts (see deploy/k8s/README.md for the sizing).
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import FileDescriptor

from sachso.events.v1 import (
    drm_events_pb2,
    lending_events_pb2,
    local_document_events_pb2,
    ocr_requests_pb2,
    reader_events_pb2,
)

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    partitions: int
    retention_ms: int
    description: str
    # The proto file whose messages travel on the topic (None: as the original event, for retry/DLQ topics).
    contract: FileDescriptor | None = None

    @property
    def event_types(self) -> frozenset[str]:
        """Full names of the event messages this topic carries."""
        if self.contract is None:
            return frozenset()
        return frozenset(message.full_name for message in self.contract.message_types_by_name.values())


LENDING_EVENTS = TopicSpec(
    name="sachso.lending.events.v1",
    key="patron id for patron and card events; title id for catalogue, licence pool, loan and hold events",
    partitions=6,
    retention_ms=14 * DAY_MS,
    description="Patrons, catalogue, loans and holds",
    contract=lending_events_pb2.DESCRIPTOR,
)
READER_EVENTS = TopicSpec(
    name="sachso.reader.events.v1",
    key="publication id",
    partitions=3,
    retention_ms=14 * DAY_MS,
    description="Publications ingested, updated, withdrawn",
    contract=reader_events_pb2.DESCRIPTOR,
)
DRM_EVENTS = TopicSpec(
    name="sachso.drm.events.v1",
    key="loan id (all licence events of one loan stay ordered)",
    partitions=6,
    retention_ms=14 * DAY_MS,
    description="Licences issued, returned, revoked; publications protected",
    contract=drm_events_pb2.DESCRIPTOR,
)

LOCAL_DOCUMENT_EVENTS = TopicSpec(
    name="sachso.reader.local-documents.v1",
    key="document id",
    partitions=3,
    retention_ms=14 * DAY_MS,
    description="Scanned local documents digitised, recognised, corrected, described, published",
    contract=local_document_events_pb2.DESCRIPTOR,
)
OCR_REQUESTS = TopicSpec(
    name="sachso.reader.ocr.v1",
    key="page id (document id and page number), so one document's pages spread over the OCR worker pool",
    partitions=6,
    retention_ms=14 * DAY_MS,
    description="One page of a scanned document to recognise (the OCR worker pool's queue)",
    contract=ocr_requests_pb2.DESCRIPTOR,
)

DOMAIN_TOPICS: tuple[TopicSpec, ...] = (LENDING_EVENTS, READER_EVENTS, DRM_EVENTS, LOCAL_DOCUMENT_EVENTS, OCR_REQUESTS)

RETRY_RETENTION_MS = 7 * DAY_MS
DEAD_LETTER_RETENTION_MS = 30 * DAY_MS


def retry_topic(group: str) -> TopicSpec:
    """Where the dead-letter replay command puts events back for ``group`` alone."""
    return TopicSpec(
        name=f"{group}.retry",
        key="as the original event",
        partitions=1,
        retention_ms=RETRY_RETENTION_MS,
        description=f"Replayed dead letters for consumer group {group}",
    )


def dead_letter_topic(group: str) -> TopicSpec:
    """Where ``group`` puts events it could not handle, with the error in headers."""
    return TopicSpec(
        name=f"{group}.dlq",
        key="as the original event",
        partitions=1,
        retention_ms=DEAD_LETTER_RETENTION_MS,
        description=f"Events consumer group {group} failed to handle",
    )


def prefixed(prefix: str, name: str) -> str:
    """The physical topic or group name: tests and side-by-side installs share a cluster through prefixes."""
    return f"{prefix}{name}"
