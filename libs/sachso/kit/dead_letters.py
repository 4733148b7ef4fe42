"""Inspect and replay a consumer group's dead letters.

    python -m sachso.kit.dead_letters list --group notify
    python -m sachso.kit.dead_letters replay --group notify [--limit N]

``replay`` moves dead letters onto the group's retry topic, which only that group consumes, so other groups
never see them again; the original CloudEvents headers, key and value are kept, so the event keeps its id and
the consumer's idempotency still holds. The replay cursor is a consumer group of its own, so a letter is
replayed once.

The command reads the Kafka settings of the service that owns the group — ``NOTIFY_KAFKA_BOOTSTRAP_SERVERS``,
``NOTIFY_KAFKA_TOPIC_PREFIX`` and the rest of ``NOTIFY_KAFKA_*`` for ``--group notify`` (``--service`` when the
group is named otherwise) — so it sees exactly the topics the service uses: run it inside the service's pod, or
locally after loading the environment ``make up`` gave the service (``.local/platform/notify.env``). It never
creates a topic: a dead-letter or retry topic that does not exist is reported, not made.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic_settings import SettingsConfigDict

from sachso.kit.consumer import DLQ_ERROR, DLQ_HEADERS, DLQ_ORIGINAL_OFFSET, DLQ_ORIGINAL_TOPIC
from sachso.kit.kafka import connection_options, create_admin, create_producer
from sachso.kit.settings import KafkaSettings, SettingsError, load_service_settings
from sachso.kit.topics import dead_letter_topic, prefixed, retry_topic


class DeadLetterToolSettings(KafkaSettings):
    """The owning service's Kafka settings (read with its prefix: ``load_service_settings``)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    service_name: str = "dead-letters"


class TopicMissing(LookupError):
    """A topic the command needs does not exist (it is never created here)."""


async def existing_topics(settings: KafkaSettings) -> set[str]:
    """Every topic of the cluster, from a metadata request for all topics (which never creates one)."""
    admin = create_admin(settings)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _require(settings: KafkaSettings, *topics: str) -> None:
    existing = await existing_topics(settings)
    for topic in topics:
        if topic not in existing:
            raise TopicMissing(
                f"no topic {topic} (the group's service creates it when it starts; "
                f"is KAFKA_TOPIC_PREFIX {settings.kafka_topic_prefix!r} the one the service uses?)"
            )


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    offset: int
    original_topic: str
    original_offset: str
    event_type: str
    event_id: str
    error: str


def _headers(record: object) -> dict[str, str]:
    return {name: value.decode(errors="replace") for name, value in getattr(record, "headers", ()) or ()}


def _consumer(settings: KafkaSettings, topic: str, group: str | None) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        **connection_options(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
    )


async def _drain(consumer: AIOKafkaConsumer, limit: int | None, idle_ms: int = 1500) -> list[object]:
    """Everything available now (stops after ``idle_ms`` without records or at ``limit``)."""
    records: list[object] = []
    while limit is None or len(records) < limit:
        batch = await consumer.getmany(timeout_ms=idle_ms, max_records=limit - len(records) if limit else 500)
        if not batch:
            break
        for partition_records in batch.values():
            records.extend(partition_records)
    return records[:limit] if limit else records


async def list_dead_letters(settings: KafkaSettings, group: str) -> list[DeadLetter]:
    """Every dead letter of ``group``; TopicMissing if its dead-letter topic does not exist."""
    topic = prefixed(settings.kafka_topic_prefix, dead_letter_topic(group).name)
    await _require(settings, topic)
    consumer = _consumer(settings, topic, None)
    await consumer.start()
    try:
        records = await _drain(consumer, None)
    finally:
        await consumer.stop()
    letters = []
    for record in records:
        headers = _headers(record)
        letters.append(
            DeadLetter(
                topic=topic,
                offset=int(getattr(record, "offset", -1)),
                original_topic=headers.get(DLQ_ORIGINAL_TOPIC, ""),
                original_offset=headers.get(DLQ_ORIGINAL_OFFSET, ""),
                event_type=headers.get("ce_type", "?"),
                event_id=headers.get("ce_id", "?"),
                error=headers.get(DLQ_ERROR, ""),
            )
        )
    return letters


async def replay_dead_letters(
    settings: KafkaSettings, group: str, *, limit: int | None = None, producer: AIOKafkaProducer | None = None
) -> int:
    """Move up to ``limit`` not-yet-replayed dead letters of ``group`` to its retry topic; return how many.
    TopicMissing if either topic does not exist."""
    source = prefixed(settings.kafka_topic_prefix, dead_letter_topic(group).name)
    target = prefixed(settings.kafka_topic_prefix, retry_topic(group).name)
    await _require(settings, source, target)
    consumer = _consumer(settings, source, prefixed(settings.kafka_topic_prefix, f"{group}.dlq-replay"))
    own_producer = producer is None
    producer = producer or create_producer(settings)
    if own_producer:
        await producer.start()
    await consumer.start()
    try:
        records = await _drain(consumer, limit)
        for record in records:
            headers = [(name, value) for name, value in getattr(record, "headers", ()) or () if name not in DLQ_HEADERS]
            await producer.send_and_wait(
                target, value=getattr(record, "value", None), key=getattr(record, "key", None), headers=headers
            )
        if records:
            await consumer.commit()
        return len(records)
    finally:
        await consumer.stop()
        if own_producer:
            await producer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sachso.kit.dead_letters", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("list", "replay"))
    parser.add_argument("--group", required=True, help="consumer group, e.g. notify")
    parser.add_argument(
        "--service", default=None, help="whose <SERVICE>_KAFKA_* settings to use (default: the group's name)"
    )
    parser.add_argument("--limit", type=int, default=None, help="replay at most this many")
    args = parser.parse_args(argv)
    service = args.service or args.group
    try:
        settings = load_service_settings(DeadLetterToolSettings, service)
    except SettingsError as error:
        print(f"{error} (the dead-letter command reads {service.upper()}_KAFKA_*)", file=sys.stderr)
        return 2
    try:
        if args.command == "list":
            letters = asyncio.run(list_dead_letters(settings, args.group))
            for letter in letters:
                print(
                    f"{letter.offset}\t{letter.event_type}\t{letter.event_id}\t{letter.original_topic}\t{letter.error}"
                )
            print(f"{len(letters)} dead letters for {args.group} in {letters[0].topic if letters else 'its topic'}")
        else:
            count = asyncio.run(replay_dead_letters(settings, args.group, limit=args.limit))
            target = prefixed(settings.kafka_topic_prefix, retry_topic(args.group).name)
            print(f"replayed {count} dead letters to {target}")
    except TopicMissing as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
