"""Domain events on Kafka: CloudEvents 1.0 in binary content mode with protobuf payloads.

``ce_type`` is the payload's full protobuf name (``sachso.events.v1.LoanCreated``), so a consumer knows the
message class from the header alone; the Kafka key is the aggregate id, so all events of one aggregate stay
in order on one partition. Trace context travels as the CloudEvents distributed-tracing extension
(``ce_traceparent``/``ce_tracestate``). The CloudEvents SDK does the header mapping.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.bindings.kafka import KafkaMessage as KafkaMessage
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from google.protobuf import symbol_database
from google.protobuf.message import DecodeError, Message
from typing_extensions import TypeVar

PROTOBUF_CONTENT_TYPE = "application/protobuf"
TRACE_ATTRIBUTES = ("traceparent", "tracestate")
_FORMAT = JSONFormat()

# The payload type of a received event; a bare ``ReceivedEvent`` carries some protobuf message.
PayloadT_co = TypeVar("PayloadT_co", bound=Message, covariant=True, default=Message)


class MalformedEvent(ValueError):
    """A Kafka record that is not a CloudEvent we can decode; it goes to the dead-letter topic."""


@dataclass(frozen=True)
class OutboundEvent:
    """An event a service wants published: where, under which key, and the protobuf payload."""

    topic: str
    key: str
    payload: Message
    subject: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def type(self) -> str:
        return str(self.payload.DESCRIPTOR.full_name)


@dataclass(frozen=True)
class ReceivedEvent(Generic[PayloadT_co]):
    """A decoded CloudEvent with its payload and where it came from.

    ``ReceivedEvent[LoanCreated]`` is what a handler registered for ``LoanCreated`` receives (the consumer
    registry checks the payload's type once, so handlers need no ``isinstance``).
    """

    id: str
    type: str
    source: str
    subject: str | None
    time: datetime | None
    key: str | None
    payload: PayloadT_co
    trace_headers: Mapping[str, str]
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class KafkaRecord:
    """What a consumer needs from an aiokafka ``ConsumerRecord`` (kept small so tests can build one)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_consumer_record(cls, record: Any) -> KafkaRecord:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=tuple(record.headers or ()),
        )


def encode(
    *,
    event_id: str,
    event_type: str,
    source: str,
    key: str,
    data: bytes,
    time: datetime,
    subject: str | None = None,
    trace_headers: Mapping[str, str] | None = None,
) -> KafkaMessage:
    """The Kafka message (headers, key, value) for one event in CloudEvents binary content mode."""
    attributes: dict[str, Any] = {
        "id": event_id,
        "type": event_type,
        "source": source,
        "time": time,
        "datacontenttype": PROTOBUF_CONTENT_TYPE,
        "partitionkey": key,
    }
    if subject:
        attributes["subject"] = subject
    for name in TRACE_ATTRIBUTES:
        if trace_headers and trace_headers.get(name):
            attributes[name] = trace_headers[name]
    return ce_kafka.to_binary(CloudEvent(attributes, data), _FORMAT)


def header_value(record: KafkaRecord, name: str) -> str | None:
    for header, value in record.headers:
        if header.lower() == name:
            return value.decode("utf-8", errors="replace")
    return None


def event_type_of(record: KafkaRecord) -> str | None:
    """The ``ce_type`` of a record without decoding it (consumers skip types they do not handle)."""
    return header_value(record, "ce_type")


def decode(record: KafkaRecord) -> ReceivedEvent:
    """Decode a record produced by :func:`encode`; raise :class:`MalformedEvent` with the reason otherwise."""
    try:
        headers = {name: value for name, value in record.headers}
        message = KafkaMessage(headers=headers, key=record.key, value=record.value or b"")
        cloud_event = ce_kafka.from_binary(message, _FORMAT, CloudEvent)
    except Exception as error:  # the SDK raises many kinds for bad attributes
        raise MalformedEvent(f"not a CloudEvents 1.0 binary-mode record: {error}") from error
    attributes = cloud_event.get_attributes()
    content_type = attributes.get("datacontenttype")
    if content_type != PROTOBUF_CONTENT_TYPE:
        raise MalformedEvent(f"unsupported datacontenttype {content_type!r}")
    event_type = str(attributes["type"])
    try:
        message_class = symbol_database.Default().GetSymbol(event_type)
    except KeyError:
        raise MalformedEvent(f"unknown event type {event_type!r}") from None
    payload = message_class()
    try:
        # The record value is the data in binary mode; the SDK's get_data() would turn bytes that happen to be
        # valid UTF-8 into text, so the payload is parsed from the record itself.
        payload.ParseFromString(record.value or b"")
    except DecodeError as error:
        raise MalformedEvent(f"payload is not a valid {event_type}: {error}") from error
    time = attributes.get("time")
    return ReceivedEvent(
        id=str(attributes["id"]),
        type=event_type,
        source=str(attributes["source"]),
        subject=attributes.get("subject"),
        time=time if isinstance(time, datetime) else None,
        key=record.key.decode("utf-8", errors="replace") if record.key is not None else None,
        payload=payload,
        trace_headers={name: str(attributes[name]) for name in TRACE_ATTRIBUTES if attributes.get(name)},
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )
