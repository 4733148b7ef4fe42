"""The expiring cache of the streaming hot path: entries expire, the oldest go when full, a set renews."""

from __future__ import annotations

import pytest

from sachso.kit.expiring import ExpiringCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_its_ttl_then_is_gone() -> None:
    clock = Clock()
    cache: ExpiringCache[str, bool] = ExpiringCache(maxsize=10, ttl=2.0, timer=clock)
    cache["loan-1"] = False  # a falsy value is a value, not a miss
    assert cache.get("loan-1") is False
    clock.now += 1.999
    assert cache.get("loan-1", True) is False
    clock.now += 0.001
    assert cache.get("loan-1") is None
    assert cache.get("loan-1", "missing") == "missing"
    assert len(cache) == 0  # an expired entry found on lookup is dropped


def test_when_full_the_entry_set_longest_ago_goes_and_setting_again_renews() -> None:
    clock = Clock()
    cache: ExpiringCache[str, int] = ExpiringCache(maxsize=2, ttl=10.0, timer=clock)
    cache["a"], cache["b"] = 1, 2
    clock.now += 5
    cache["a"] = 3  # renewed: now the newest, living until 115
    cache["c"] = 4  # full: "b" (set longest ago) goes
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (3, None, 4, 2)
    clock.now += 9  # 114: "a" renewed at 105 still lives
    assert cache.get("a") == 3
    cache.clear()
    assert len(cache) == 0


def test_a_lifetime_of_zero_remembers_nothing() -> None:
    cache: ExpiringCache[str, bool] = ExpiringCache(maxsize=1, ttl=0, timer=Clock())
    cache["ana"] = True
    assert cache.get("ana") is None


@pytest.mark.parametrize(("maxsize", "ttl"), [(0, 1.0), (1, -1.0)])
def test_an_impossible_cache_is_refused(maxsize: int, ttl: float) -> None:
    with pytest.raises(ValueError, match="expiring cache"):
        ExpiringCache(maxsize=maxsize, ttl=ttl)
