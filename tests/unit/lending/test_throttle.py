"""Sign-in throttling rules (pure)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from lending.domain.patrons import person_name
from lending.domain.throttle import Limit, ThrottlePolicy, attempt_steps, exceeded
from sachso.kit.errors import InvalidInput


def test_fixed_windows_name_their_counter_and_say_when_to_retry() -> None:
    limit = Limit("pair", 5, timedelta(minutes=15))
    now = datetime(2026, 12, 1, 10, 7, 30, tzinfo=UTC)
    assert limit.window_start(now) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert limit.key("card:DL-1|1.2.3.4", now) == limit.key("card:DL-1|1.2.3.4", now + timedelta(minutes=7))
    assert limit.key("card:DL-1|1.2.3.4", now) != limit.key("card:DL-1|1.2.3.4", now + timedelta(minutes=8))
    assert limit.retry_after(now) == 450


def test_a_known_client_is_not_slowed_by_attacks_on_its_card() -> None:
    policy = ThrottlePolicy()
    known = attempt_steps(policy, "card:DL-1", "1.2.3.4", known_client=True)
    assert [step.limit.scope for step in known] == ["client", "pair"]
    unknown = attempt_steps(policy, "card:DL-1", "5.6.7.8", known_client=False)
    assert [step.limit.scope for step in unknown] == ["client", "pair", "credential-day", "credential"]
    slow = unknown[-1].overflow
    assert slow is not None
    assert slow.limit.scope == "slow"  # a card under attack slows down, it does not lock
    assert not exceeded(unknown[1], 5)
    assert exceeded(unknown[1], 6)


@pytest.mark.parametrize("name", ["Nguyễn Thị Ánh", "H'Hen Niê", "Lê Văn Tám-Anh", "Nguyễn T. Ánh", "Ама Іванова"])
def test_real_names_pass_and_come_back_nfc(name: str) -> None:
    decomposed = unicodedata.normalize("NFD", f"  {name}  ")
    assert person_name(decomposed) == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize("name", ["visit evil.example", "Gọi 0912345678", "<b>x</b>", "a@b", "", "x" * 101])
def test_names_carrying_messages_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        person_name(name)
