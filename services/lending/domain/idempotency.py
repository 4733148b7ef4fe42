"""Idempotent requests: the client names an attempt (``Idempotency-Key``, as payment APIs do), so retrying it after
a timeout or an outage never lends twice, and the request it abandoned can be found by retrying.

A key belongs to one patron and one request: the same key with the same request answers what the first one did;
the same key with a different request is refused. Keys are kept a day.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from lending.errors import IdempotencyKeyInvalid, IdempotencyKeyReused

KEEP_FOR = timedelta(days=1)
_KEY = re.compile(r"^[\x21-\x7e]{8,255}$")  # visible ASCII: UUIDs, ULIDs, random strings


def key_id(patron_id: str, operation: str, key: str) -> str:
    """Where the key is recorded: per patron and operation, so two patrons' keys never meet."""
    if not _KEY.match(key):
        raise IdempotencyKeyInvalid("Idempotency-Key must be 8 to 255 visible ASCII characters (a UUID, say)")
    return f"{operation}:{patron_id}:{key}"


def fingerprint(**request: object) -> str:
    """What the request asked for, to tell a true retry from a different request reusing the key."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def ensure_same_request(recorded: str, current: str) -> None:
    if recorded != current:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request; use a new key")
