"""Notify's HTTP and gRPC edges: preferences, push subscriptions, the inbox and its live stream — each patron
reaches only her own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from notify.adapters.inbox_repository import MongoInbox
from notify.domain.inbox import InboxMessage
from notify.domain.notices import Language, NoticeKind
from notify.service_layer.inbox_feed import InboxFeed
from sachso.events.v1 import lending_events_pb2 as lending
from sachso.kit.auth import Role
from sachso.notify.v1 import notify_service_pb2 as notify_pb2
from sachso.notify.v1 import notify_service_pb2_grpc as notify_pb2_grpc
from tests.integration.kafka_helpers import wait_until
from tests.integration.notify.conftest import Browser, Notify, PushService

pytestmark = pytest.mark.integration
Document = dict[str, Any]


def someone() -> str:
    return f"patron-{uuid.uuid4().hex[:8]}"


async def approve(notify: Notify, patron_id: str, name: str = "Hoàng Thị Mai") -> None:
    await notify.publish(
        lending.PatronApproved(patron_id=patron_id, card_number="DL-7", display_name=name, preferred_language="vi"),
        key=patron_id,
    )


async def test_preferences_default_then_chosen_and_private(notify: Notify) -> None:
    mai, lan = someone(), someone()
    defaults = (await notify.http.get("/v1/notification-preferences", headers=notify.headers(mai))).json()
    assert defaults["time_zone"] == "Asia/Ho_Chi_Minh"
    assert defaults["quiet_hours"] is None
    assert defaults["kinds"]["hold-ready"] == {
        "channels": ["email", "inbox", "push"],
        "allowed": ["email", "inbox", "push"],
        "urgent": False,
        "fixed": False,
    }
    assert defaults["kinds"]["email-verification"]["fixed"] is True
    assert defaults["kinds"]["email-verification"]["urgent"] is True

    chosen = {
        "time_zone": "Asia/Bangkok",
        "quiet_hours": {"start": "22:00", "end": "06:30"},
        "language": "en",
        "channels": {"hold-ready": ["push"], "loan-due-soon": []},
    }
    saved = await notify.http.put("/v1/notification-preferences", json=chosen, headers=notify.headers(mai))
    assert saved.status_code == 200, saved.text
    again = (await notify.http.get("/v1/notification-preferences", headers=notify.headers(mai))).json()
    assert again == saved.json()
    assert again["quiet_hours"] == {"start": "22:00:00", "end": "06:30:00"}
    assert again["kinds"]["hold-ready"]["channels"] == ["push"]
    assert again["kinds"]["loan-due-soon"]["channels"] == []
    assert again["kinds"]["hold-expired"]["channels"] == ["email", "inbox"]  # untouched kinds keep defaults
    assert again["language"] == "en"
    others = (await notify.http.get("/v1/notification-preferences", headers=notify.headers(lan))).json()
    assert others == defaults


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "different times"),
        ({"channels": {"email-verification": []}}, "always goes by email"),
        ({"channels": {"card-rejected": ["push"]}}, "card-rejected"),
        ({"channels": {"hold-ready": ["fax"]}}, "channels"),
        ({"channels": {"no-such-kind": ["email"]}}, "channels"),
    ],
)
async def test_invalid_preferences_are_refused_with_problem_details(
    notify: Notify, body: dict[str, Any], words: str
) -> None:
    response = await notify.http.put("/v1/notification-preferences", json=body, headers=notify.headers(someone()))
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert words in response.text


async def test_the_api_needs_a_patron_token(notify: Notify) -> None:
    assert (await notify.http.get("/v1/inbox")).status_code == 401
    staff = notify.headers("thu.bmt", Role.LIBRARIAN)
    assert (await notify.http.get("/v1/notification-preferences", headers=staff)).status_code == 403


async def test_push_subscriptions_per_device_and_private(notify: Notify, push_service: PushService) -> None:
    mai, lan = someone(), someone()
    key = (await notify.http.get("/v1/push/vapid-public-key")).json()["public_key"]
    assert len(key) == 87  # base64url of a 65-byte uncompressed P-256 point
    phone = Browser.new().subscription(f"{push_service.base_url}/push/phone-{mai}", "Điện thoại")
    laptop = Browser.new().subscription(f"{push_service.base_url}/push/laptop-{mai}", "Máy tính")
    for device in (phone, laptop, phone):  # subscribing the same device again updates it
        response = await notify.http.post("/v1/push/subscriptions", json=device, headers=notify.headers(mai))
        assert response.status_code == 201, response.text
    mine = (await notify.http.get("/v1/push/subscriptions", headers=notify.headers(mai))).json()
    assert sorted(device["device_name"] for device in mine) == ["Máy tính", "Điện thoại"]
    assert (await notify.http.get("/v1/push/subscriptions", headers=notify.headers(lan))).json() == []
    someone_elses = await notify.http.delete(f"/v1/push/subscriptions/{mine[0]['id']}", headers=notify.headers(lan))
    assert someone_elses.status_code == 404
    assert someone_elses.headers["content-type"] == "application/problem+json"
    deleted = await notify.http.delete(f"/v1/push/subscriptions/{mine[0]['id']}", headers=notify.headers(mai))
    assert deleted.status_code == 204
    assert len((await notify.http.get("/v1/push/subscriptions", headers=notify.headers(mai))).json()) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"endpoint": "ftp://push.example/abc"},
        {"keys": {"p256dh": "A" * 87, "auth": "AAAAAAAAAAAAAAAAAAAAAA"}},  # not a point on the curve's format
        {"keys": {"p256dh": None, "auth": "short"}},
    ],
)
async def test_malformed_subscriptions_are_refused(notify: Notify, change: dict[str, Any]) -> None:
    body = Browser.new().subscription("https://push.example/abc") | change
    response = await notify.http.post("/v1/push/subscriptions", json=body, headers=notify.headers(someone()))
    assert response.status_code in (400, 422), response.text


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        ("http://fcm.googleapis.com/fcm/send/x", "https URL"),
        ("https://127.0.0.1/push/x", "loopback"),
        ("https://[::1]/push/x", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://10.0.0.12/push/x", "private"),
        ("https://[::ffff:127.0.0.1]/push/x", "IPv4-mapped"),
        ("https://2130706433/push/x", "numeric address"),  # decimal 127.0.0.1
        ("https://0177.0.0.1/push/x", "numeric address"),  # octal
        ("https://localhost/push/x", "single-label"),  # resolves to 127.0.0.1 here
        ("https://sachso-lending.sachso.svc/v1/loans", "special-use"),
        ("https://push.nonexistent-domain-for-tests.com/x", "does not resolve"),
    ],
)
async def test_hostile_push_endpoints_are_refused_with_problem_details(
    strict_notify: Notify, endpoint: str, reason: str
) -> None:
    patron = someone()
    body = Browser.new().subscription(endpoint)
    response = await strict_notify.http.post("/v1/push/subscriptions", json=body, headers=strict_notify.headers(patron))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "https://sachso.vn/problems/push-endpoint-refused"
    assert reason in problem["detail"]
    assert (await strict_notify.http.get("/v1/push/subscriptions", headers=strict_notify.headers(patron))).json() == []


async def test_marking_read_reaches_only_my_messages(notify: Notify) -> None:
    mai, lan = someone(), someone()
    await approve(notify, mai)
    (message,) = await notify.wait_for_inbox(mai, 1)
    assert message["read_at"] is None
    url = f"/v1/inbox/{message['id']}/read"
    assert (await notify.http.post(url, headers=notify.headers(lan))).status_code == 404
    assert (await notify.http.post(url, headers=notify.headers(mai))).status_code == 204
    (read,) = await notify.inbox(mai)
    assert read["read_at"] is not None
    unread = await notify.http.get("/v1/inbox", params={"unread": "true"}, headers=notify.headers(mai))
    assert unread.json() == []


@contextlib.asynccontextmanager
async def stream(
    notify: Notify, patron_id: str, last_event_id: str | None = None
) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """Open the patron's SSE stream; each ``message`` event arrives in the queue as a dict."""
    headers = notify.headers(patron_id) | ({"Last-Event-ID": last_event_id} if last_event_id else {})
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    opened = asyncio.Event()

    async def read() -> None:
        async with (
            httpx.AsyncClient(base_url=notify.url, timeout=httpx.Timeout(10, read=60)) as client,
            client.stream("GET", "/v1/inbox/stream", headers=headers) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            event: dict[str, str] = {}
            async for line in response.aiter_lines():
                opened.set()
                if not line:
                    if event.get("event") == "message":
                        await events.put({"id": event["id"], **json.loads(event["data"])})
                    event = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    event[name] = value.lstrip(" ")

    reader = asyncio.create_task(read())
    await asyncio.wait_for(opened.wait(), 10)
    try:
        yield events
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def test_the_inbox_stream_brings_my_new_messages_live(notify: Notify) -> None:
    mai, lan = someone(), someone()
    async with stream(notify, mai) as mine, stream(notify, lan) as theirs:
        await approve(notify, mai, name="Hoàng Thị Mai")
        event = await asyncio.wait_for(mine.get(), 15)
        assert event["kind"] == "card-approved"
        assert event["title"] == "Thẻ bạn đọc đã được duyệt"
        assert "Hoàng Thị Mai" in event["body"]
        first_id = event["id"]
        await approve(notify, lan)
        assert (await asyncio.wait_for(theirs.get(), 15))["kind"] == "card-approved"
        await asyncio.sleep(0.3)
        assert mine.empty()  # Lan's message never reaches Mai's stream

    # offline meanwhile: reconnecting with the last id seen brings what was missed
    missed = await notify.publish(lending.HoldExpired(hold_id="h", patron_id=mai, title_id="t"), key="t")
    await notify.wait_for_inbox(mai, 2)
    async with stream(notify, mai, last_event_id=first_id) as resumed:
        event = await asyncio.wait_for(resumed.get(), 10)
        assert event["id"] == f"{missed}:inbox"
        assert event["kind"] == "hold-expired"


async def test_the_stream_falls_back_to_polling_without_change_streams(database: AsyncDatabase[Document]) -> None:
    inbox = MongoInbox(database)
    await inbox.ensure_indexes()
    feed = InboxFeed(inbox, poll_seconds=0.1, use_change_streams=False)
    stop = asyncio.Event()
    runner = asyncio.create_task(feed.run(stop))
    try:
        async with feed.subscribe("mai") as queue:

            async def polling() -> bool:
                return feed.mode == "polling"

            await wait_until(polling, within=10, interval=0.01)  # messages written from now on are seen
            for patron in ("lan", "mai"):
                await inbox.add(
                    InboxMessage(
                        f"evt-{patron}:inbox", patron, NoticeKind.HOLD_EXPIRED, Language.VI, "t", "b", datetime.now(UTC)
                    )
                )
            message = await feed.next_message(queue, within=5)
            assert message is not None
            assert message.id == "evt-mai:inbox"
            assert feed.mode == "polling"
            assert await feed.next_message(queue, within=0.5) is None  # seen once, not again at the next poll
    finally:
        stop.set()
        await runner
    assert feed.closing.is_set()


async def test_count_unread_over_grpc(notify: Notify) -> None:
    mai = someone()
    await approve(notify, mai)
    await notify.wait_for_inbox(mai, 1)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{notify.settings.grpc_port}") as channel:
        stub = notify_pb2_grpc.NotifyServiceStub(channel)

        def auth(subject: str, *roles: Role) -> list[tuple[str, str]]:
            return [("authorization", notify.headers(subject, *roles)["Authorization"])]

        mine = await stub.CountUnread(notify_pb2.CountUnreadRequest(patron_id=mai), metadata=auth(mai))
        assert mine.unread == 1
        assert mine.newest_at.seconds > 0
        service = await stub.CountUnread(
            notify_pb2.CountUnreadRequest(patron_id=mai), metadata=auth("lending", Role.SERVICE)
        )
        assert service.unread == 1
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CountUnread(notify_pb2.CountUnreadRequest(patron_id=mai), metadata=auth(someone()))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
