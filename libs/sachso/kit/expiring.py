"""A bounded cache whose entries expire a fixed time after they were set, cheap enough for a per-request path.

The streaming hot path asks several such caches on every resource GET (the verified token, the loan's and the
card's revocation state, the publication's record). ``cachetools.TTLCache`` keeps a linked list and enters a timer
context on every lookup, which measured at several microseconds each — together a large share of a request's own
work (``bench/bench_reader.py``'s in-process CPU figure). Here a lookup is one dict read and one clock read.

Entries leave when they expire (on lookup) or, when the cache is full, in the order they were set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")


class ExpiringCache(Generic[K, V]):
    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float] = time.monotonic) -> None:
        if maxsize < 1 or ttl < 0:
            raise ValueError("an expiring cache needs room for one entry and a lifetime of zero or more")
        self.maxsize = maxsize
        self.ttl = ttl
        self._timer = timer
        self._entries: dict[K, tuple[V, float]] = {}

    @overload
    def get(self, key: K) -> V | None: ...

    @overload
    def get(self, key: K, default: D) -> V | D: ...

    def get(self, key: K, default: object = None) -> object:
        entry = self._entries.get(key)
        if entry is None:
            return default
        if entry[1] <= self._timer():
            del self._entries[key]
            return default
        return entry[0]

    def __setitem__(self, key: K, value: V) -> None:
        entries = self._entries
        if key in entries:
            del entries[key]  # set again: it expires later, so it moves to the end
        elif len(entries) >= self.maxsize:
            del entries[next(iter(entries))]  # full: the entry set longest ago goes
        entries[key] = (value, self._timer() + self.ttl)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
