"""Time and identifiers, injected so the service layer can be driven by tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, to the millisecond: what MongoDB stores, so times read back compare equal to times written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_id() -> str:
    return uuid.uuid4().hex


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
