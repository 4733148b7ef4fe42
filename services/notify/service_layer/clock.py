"""Time, injected so the service layer can be driven by tests; protobuf timestamps to aware datetimes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, to the millisecond: what MongoDB stores, so times read back compare equal to times written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def moment(stamp: Timestamp) -> datetime | None:
    """The instant of a protobuf timestamp; None when the field was not set."""
    if stamp.seconds == 0 and stamp.nanos == 0:
        return None
    return stamp.ToDatetime(tzinfo=UTC)


def utc(moment: datetime | None) -> datetime | None:
    """An instant as aware UTC (MongoDB gives naive UTC back unless the client is tz-aware)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
