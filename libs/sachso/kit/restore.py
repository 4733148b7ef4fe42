"""After every service's MongoDB database was restored to one moment, put the consumer groups where that moment
left them, so that no event is lost and none takes effect twice.

    python -m sachso.kit.restore --at 2026-12-01T03:00:00Z [--margin-minutes 30] [--dry-run] \\
        --consumer lending=sachso.reader.events.v1,sachso.drm.events.v1,sachso.reader.local-documents.v1 \\
        --consumer drm=sachso.reader.events.v1,sachso.lending.events.v1,sachso.reader.local-documents.v1 \\
        --consumer reader=sachso.lending.events.v1 \\
        --consumer reader:reader-ocr=sachso.reader.ocr.v1 \\
        --consumer notify=sachso.lending.events.v1,sachso.drm.events.v1

Run it with every service scaled to zero (a group with members refuses new offsets), with the environment of all
four services (``<SERVICE>_MONGO_*`` and ``<SERVICE>_KAFKA_*``: deploy/k8s/runbooks/en/restore.md has the Job).

Why it is needed. Kafka outlives the restore: its topics hold the events of the restored moment ``T`` and after,
and each group's committed offsets point past ``T``. Left alone, an event published before ``T`` but consumed after
it would be lost (its effect is gone from the restored database, and the group will not read it again). Rewound
naively, an event written after ``T`` would take effect again although the write that made it was lost (a licence
for a loan lending no longer has). So, for every group:

1. its offsets go back to the first record at ``T - margin`` (the margin covers how far behind the group may have
   been at ``T``; the outboxes keep sent events seven days, so the margin must stay well under that);
2. every record from there to the end is checked against the outbox of the service that produced it (the event's
   ``ce_source``), as restored: an event id the producer's outbox does not hold was written after ``T`` — it is
   *fenced*: a handled-event marker is written for the group, so its consumer skips it as a duplicate;
3. the consumer then re-reads: events it had handled before ``T`` are duplicates (their markers were restored),
   the others take effect once. Events still unpublished at ``T`` are published again by the restored outboxes
   under the same ids, and the consumers drop the second copy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic_settings import SettingsConfigDict
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from sachso.kit import events as ce
from sachso.kit.events import KafkaRecord
from sachso.kit.kafka import connection_options
from sachso.kit.settings import KafkaSettings, MongoSettings, SettingsError, load_service_settings
from sachso.kit.topics import prefixed, retry_topic

Document = dict[str, Any]
SOURCE_PREFIX = "/sachso/"


class RestoreSettings(MongoSettings, KafkaSettings):
    """One service's database and the cluster, from its own variables (the prefix is chosen per service)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    service_name: str = "restore"


@dataclass(frozen=True)
class Consumer:
    """A consumer group: the service that runs it (its database holds the markers), the topics it reads, and its
    name when it is not the service's own (a second group of one service: the reader's ``reader-ocr``)."""

    service: str
    topics: tuple[str, ...]
    name: str = ""

    @property
    def group(self) -> str:
        return self.name or self.service


@dataclass
class GroupReport:
    group: str
    rewound_to: dict[str, int] = field(default_factory=dict)  # "topic[partition]" -> offset
    replayed: int = 0  # records the group will read again
    fenced: list[str] = field(default_factory=list)  # event ids written after the restored moment


def _producer(record: KafkaRecord) -> str | None:
    source = ce.header_value(record, "ce_source") or ""
    return source.removeprefix(SOURCE_PREFIX).split("/")[0] if source.startswith(SOURCE_PREFIX) else None


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    partitions = []
    for topic in topics:
        numbers = consumer.partitions_for_topic(topic)
        if numbers is None:
            await consumer._client.force_metadata_update()
            numbers = consumer.partitions_for_topic(topic) or set()
        partitions += [TopicPartition(topic, number) for number in sorted(numbers)]
    return partitions


async def rewind_group(
    consumer_spec: Consumer,
    settings: Mapping[str, RestoreSettings],
    *,
    at: datetime,
    margin: timedelta,
    dry_run: bool = False,
) -> GroupReport:
    """Fence the events written after ``at`` and rewind ``consumer_spec``'s group to ``at - margin``."""
    own = settings[consumer_spec.service]
    topics = [
        prefixed(own.kafka_topic_prefix, topic)
        for topic in (*consumer_spec.topics, retry_topic(consumer_spec.group).name)
    ]
    report = GroupReport(consumer_spec.group)
    reader = AIOKafkaConsumer(**connection_options(own), group_id=None, enable_auto_commit=False)
    await reader.start()
    clients: dict[str, AsyncMongoClient[Document]] = {}
    try:
        partitions = await _partitions(reader, topics)
        if not partitions:
            return report
        reader.assign(partitions)
        since = int((at - margin).timestamp() * 1000)
        found = await reader.offsets_for_times(dict.fromkeys(partitions, since))
        ends = await reader.end_offsets(partitions)
        starts = {
            partition: (found[partition].offset if found.get(partition) is not None else ends[partition])
            for partition in partitions
        }
        for partition in partitions:
            report.rewound_to[f"{partition.topic}[{partition.partition}]"] = starts[partition]
            if starts[partition] < ends[partition]:
                reader.seek(partition, starts[partition])
        remaining = {partition for partition in partitions if starts[partition] < ends[partition]}
        records: list[KafkaRecord] = []
        while remaining:
            batch = await reader.getmany(*remaining, timeout_ms=2000)
            if not batch:
                break
            for partition, partition_records in batch.items():
                records += [KafkaRecord.from_consumer_record(record) for record in partition_records]
                if await reader.position(partition) >= ends[partition]:
                    remaining.discard(partition)
        report.replayed = len(records)

        def database(service: str) -> Any:
            if service not in clients:
                clients[service] = AsyncMongoClient(
                    settings[service].mongo_uri, retryWrites=settings[service].mongo_retry_writes, tz_aware=True
                )
            return clients[service][settings[service].mongo_database]

        markers = database(consumer_spec.service)["handled_events"]
        produced: dict[str, list[tuple[str, KafkaRecord]]] = {}
        for record in records:
            event_id, producer = ce.header_value(record, "ce_id"), _producer(record)
            if not event_id or producer is None:
                continue  # not an event of ours: the consumer dead-letters it again, as it did the first time
            if producer not in settings:
                raise SettingsError(
                    f"{event_id} comes from {producer}; its settings ({producer.upper()}_*) are missing"
                )
            produced.setdefault(producer, []).append((event_id, record))
        for producer, events in produced.items():
            known: set[str] = set()
            ids = sorted({event_id for event_id, _ in events})
            for start in range(0, len(ids), 1000):  # written before the restored moment: in the restored outbox
                cursor = database(producer)["outbox"].find({"event_id": {"$in": ids[start : start + 1000]}})
                known |= {document["event_id"] async for document in cursor}
            for event_id, record in events:
                if event_id in known or event_id in report.fenced:
                    continue
                report.fenced.append(event_id)
                if dry_run:
                    continue
                with contextlib.suppress(DuplicateKeyError):  # fenced by an earlier run of this command
                    await markers.insert_one(
                        {
                            "_id": f"{consumer_spec.group}:{event_id}",
                            "type": ce.event_type_of(record) or "",
                            "handled_at": datetime.now(UTC),
                            "fenced_by_restore_to": at,
                        }
                    )
        if not dry_run:
            committer = AIOKafkaConsumer(
                **connection_options(own),
                group_id=prefixed(own.kafka_topic_prefix, consumer_spec.group),
                enable_auto_commit=False,
            )
            await committer.start()
            try:
                committer.assign(partitions)
                await committer.commit(dict(starts.items()))
            finally:
                await committer.stop()
    finally:
        await reader.stop()
        for client in clients.values():
            await client.close()
    return report


async def restore_consumers(
    consumers: Sequence[Consumer],
    settings: Mapping[str, RestoreSettings],
    *,
    at: datetime,
    margin: timedelta,
    dry_run: bool = False,
) -> list[GroupReport]:
    return [await rewind_group(spec, settings, at=at, margin=margin, dry_run=dry_run) for spec in consumers]


def parse_consumer(value: str) -> Consumer:
    """``SERVICE=TOPICS`` for the group named after its service, ``SERVICE:GROUP=TOPICS`` for another of its groups."""
    owner, _, topics = value.partition("=")
    service, _, group = owner.partition(":")
    if not service.strip() or not topics or (":" in owner and not group.strip()):
        raise argparse.ArgumentTypeError("expected SERVICE[:GROUP]=TOPIC[,TOPIC...]")
    return Consumer(
        service.strip(), tuple(topic.strip() for topic in topics.split(",") if topic.strip()), group.strip()
    )


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time zone (…Z or +07:00)")
    return moment.astimezone(UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sachso.kit.restore", description=__doc__.split("\n\n")[0])
    parser.add_argument("--at", type=_moment, required=True, help="the moment every database was restored to")
    parser.add_argument("--margin-minutes", type=float, default=30.0, help="how far behind a group may have been")
    parser.add_argument("--consumer", type=parse_consumer, action="append", required=True,
                        help="SERVICE=TOPIC,TOPIC (its own group) or SERVICE:GROUP=TOPIC,TOPIC (another)")  # fmt: skip
    parser.add_argument("--producer", action="append", default=["lending", "reader", "drm"],
                        help="services whose outboxes produce events (default: lending, reader, drm)")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="report, write nothing")
    args = parser.parse_args(argv)
    services = sorted({*args.producer, *(spec.service for spec in args.consumer)})
    try:
        settings = {service: load_service_settings(RestoreSettings, service) for service in services}
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    reports = asyncio.run(
        restore_consumers(
            args.consumer, settings, at=args.at, margin=timedelta(minutes=args.margin_minutes), dry_run=args.dry_run
        )
    )
    for report in reports:
        positions = ", ".join(f"{where}→{offset}" for where, offset in sorted(report.rewound_to.items()))
        print(f"{report.group}: {report.replayed} records to read again; fenced {len(report.fenced)} written after "
              f"{args.at.isoformat()}; offsets {positions or 'none'}")  # fmt: skip
    if args.dry_run:
        print("dry run: nothing written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
