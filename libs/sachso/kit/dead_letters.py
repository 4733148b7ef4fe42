"""Inspect and replay a consumer group's dead letters.

    python -m sachso.kit.dead_letters list --group notify
    python -m sachso.kit.dead_letters replay --group notify [--limit N]

``replay`` moves dead letters onto the group's retry topic, which only that group consumes, so other groups
never see them again; the original CloudEvents headers, key and value are kept, so the event keeps its id and
the consumer's idempotency still holds. The replay cursor is a consumer group of its own, so a letter is
replayed once. Connection settings come from ``SACHSO_KAFKA_BOOTSTRAP_SERVERS`` and
``SACHSO_KAFKA_TOPIC_PREFIX``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic_settings import SettingsConfigDict

from sachso.kit.consumer import DLQ_ERROR, DLQ_HEADERS, DLQ_ORIGINAL_OFFSET, DLQ_ORIGINAL_TOPIC
from sachso.kit.kafka import create_producer
from sachso.kit.settings import KafkaSettings, SettingsError, load_settings
from sachso.kit.topics import dead_letter_topic, prefixed, retry_topic


class DeadLetterToolSettings(KafkaSettings):
    model_config = SettingsConfigDict(env_prefix="SACHSO_", frozen=True, extra="ignore")

    service_name: str = "dead-letters"


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
        bootstrap_servers=settings.kafka_bootstrap_servers,
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
    topic = prefixed(settings.kafka_topic_prefix, dead_letter_topic(group).name)
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
    """Move up to ``limit`` not-yet-replayed dead letters of ``group`` to its retry topic; return how many."""
    source = prefixed(settings.kafka_topic_prefix, dead_letter_topic(group).name)
    target = prefixed(settings.kafka_topic_prefix, retry_topic(group).name)
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
    parser.add_argument("--limit", type=int, default=None, help="replay at most this many")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(DeadLetterToolSettings)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    if args.command == "list":
        letters = asyncio.run(list_dead_letters(settings, args.group))
        for letter in letters:
            print(f"{letter.offset}\t{letter.event_type}\t{letter.event_id}\t{letter.original_topic}\t{letter.error}")
        print(f"{len(letters)} dead letters for {args.group}")
    else:
        count = asyncio.run(replay_dead_letters(settings, args.group, limit=args.limit))
        print(f"replayed {count} dead letters to {retry_topic(args.group).name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
