"""Notify's patron-facing use cases on the in-memory fakes: her inbox, her preferences, her push devices."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, time, timedelta

import pytest

from notify.domain.inbox import InboxMessage
from notify.domain.notices import Channel, Language, NoticeKind
from notify.domain.preferences import Preferences, QuietHours
from notify.domain.push_endpoints import PushEndpointPolicy
from notify.errors import (
    InvalidSubscription,
    MessageNotFound,
    PushEndpointRefused,
    PushNotConfigured,
    SubscriptionNotFound,
)
from notify.service_layer.patron_settings import NotificationPreferences, PatronInbox, PushSubscriptions
from tests.unit.notify.fakes import FakeEndpointGuard, FakeInbox, FakePatrons, FakeSubscriptions

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
P256DH = base64.urlsafe_b64encode(b"\x04" + bytes(range(64))).rstrip(b"=").decode()
AUTH = base64.urlsafe_b64encode(bytes(16)).rstrip(b"=").decode()


def message(message_id: str, patron: str, minutes: int) -> InboxMessage:
    return InboxMessage(message_id, patron, NoticeKind.HOLD_READY, Language.VI, "Sách đã sẵn sàng", "…",
                        NOW + timedelta(minutes=minutes))  # fmt: skip


async def test_the_inbox_is_her_own_newest_first_and_read_once() -> None:
    inbox = PatronInbox(FakeInbox(message("m1", "ana", 1), message("m2", "binh", 2), message("m3", "ana", 3)))
    assert [m.id for m in await inbox.messages("ana", limit=10)] == ["m3", "m1"]
    assert [m.id for m in await inbox.since("ana", "m1")] == ["m3"]
    await inbox.mark_read("ana", "m3")
    assert [m.id for m in await inbox.messages("ana", limit=10, unread_only=True)] == ["m1"]
    with pytest.raises(MessageNotFound):
        await inbox.mark_read("ana", "m2")  # binh's message is not hers: 404, as if it did not exist


async def test_preferences_default_then_chosen() -> None:
    preferences = NotificationPreferences(FakePatrons())
    assert (await preferences.of("ana")).time_zone == "Asia/Ho_Chi_Minh"
    chosen = Preferences(
        time_zone="Asia/Bangkok", quiet_hours=QuietHours(time(22), time(7)),
        channels={NoticeKind.HOLD_READY: frozenset({Channel.EMAIL})}, language=Language.EN,
    )  # fmt: skip
    assert await preferences.choose("ana", chosen) == chosen
    assert await preferences.of("ana") == chosen
    assert (await preferences.of("binh")).language is None


async def test_push_devices_are_checked_stored_once_per_endpoint_and_her_own() -> None:
    store = FakeSubscriptions()
    guard = FakeEndpointGuard(PushEndpointPolicy(), unresolvable=frozenset({"gone.push-service.vn"}))
    push = PushSubscriptions(store, guard, "vapid-public-key", clock=lambda: NOW)
    assert push.public_key() == "vapid-public-key"
    endpoint = "https://fcm.googleapis.com/fcm/send/abc"
    saved = await push.subscribe("ana", endpoint=endpoint, p256dh=P256DH, auth=AUTH, device_name="  Điện thoại  ")
    again = await push.subscribe("ana", endpoint=endpoint, p256dh=P256DH, auth=AUTH, device_name="Phone")
    assert (saved.id, saved.device_name, again.device_name) == (again.id, "Điện thoại", "Phone")
    assert [s.id for s in await push.devices("ana")] == [saved.id]
    with pytest.raises(InvalidSubscription):
        await push.subscribe("ana", endpoint=endpoint, p256dh=AUTH, auth=AUTH, device_name="")
    with pytest.raises(InvalidSubscription):
        await push.subscribe("ana", endpoint=endpoint, p256dh=P256DH, auth="!!", device_name="")
    with pytest.raises(PushEndpointRefused, match="https"):
        await push.subscribe("ana", endpoint="http://push.example/x", p256dh=P256DH, auth=AUTH, device_name="")
    with pytest.raises(PushEndpointRefused, match=r"private|loopback|address"):
        await push.subscribe("ana", endpoint="https://127.0.0.1/x", p256dh=P256DH, auth=AUTH, device_name="")
    with pytest.raises(PushEndpointRefused, match="resolve"):
        await push.subscribe("ana", endpoint="https://gone.push-service.vn/x", p256dh=P256DH, auth=AUTH, device_name="")
    with pytest.raises(SubscriptionNotFound):
        await push.unsubscribe("binh", saved.id)  # not hers
    await push.unsubscribe("ana", saved.id)
    assert await push.devices("ana") == []


async def test_without_a_vapid_key_nobody_subscribes() -> None:
    push = PushSubscriptions(FakeSubscriptions(), FakeEndpointGuard(PushEndpointPolicy()), None)
    with pytest.raises(PushNotConfigured):
        push.public_key()
    with pytest.raises(PushNotConfigured):
        await push.subscribe("ana", endpoint="https://fcm.googleapis.com/x", p256dh=P256DH, auth=AUTH, device_name="")
