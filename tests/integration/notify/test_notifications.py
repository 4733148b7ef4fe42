"""From events on Kafka to what the patron gets: email accepted by the SMTP server, Web Push at a push service,
the inbox — once per event and channel, whatever Kafka redelivers."""

from __future__ import annotations

import base64
import json
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import http_ece  # type: ignore[import-untyped]
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.timestamp_pb2 import Timestamp

from notify.domain.notices import NoticeKind
from sachso.events.v1 import drm_events_pb2
from sachso.events.v1 import lending_events_pb2 as lending
from sachso.kit.topics import DRM_EVENTS
from tests.integration.kafka_helpers import wait_until
from tests.integration.notify.conftest import Browser, Notify, PushService, mail_to, raw_mail_to

pytestmark = pytest.mark.integration


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def approved_patron(notify: Notify, *, name: str = "Nguyễn Thị Ánh", language: str = "vi") -> tuple[str, str]:
    patron_id = unique("patron")
    email = f"{patron_id}@example.vn"
    await notify.publish(
        lending.PatronApproved(
            patron_id=patron_id,
            library_id="daklak",
            card_number="DL-000123",
            display_name=name,
            email=email,
            preferred_language=language,
            approved_at=stamp(datetime.now(UTC)),
        ),
        key=patron_id,
    )
    # patron events travel under the patron's key, hold and loan events under the title's: another partition,
    # so wait until notify knows her, as it would long before her first hold is ready
    await notify.wait_for_inbox(patron_id, 1)
    return patron_id, email


async def title(notify: Notify, name: str = "Dế Mèn phiêu lưu ký") -> str:
    title_id = unique("title")
    await notify.publish(lending.TitleAdded(title_id=title_id, title=name, authors=["Tô Hoài"]), key=title_id)
    return title_id


def hold_ready(patron_id: str, title_id: str, within: timedelta = timedelta(hours=72)) -> lending.HoldReady:
    return lending.HoldReady(
        hold_id=unique("hold"), patron_id=patron_id, title_id=title_id, ready_until=stamp(datetime.now(UTC) + within)
    )


async def test_a_ready_hold_reaches_email_push_and_inbox(notify: Notify, push_service: PushService) -> None:
    patron_id, email = await approved_patron(notify)
    title_id = await title(notify)
    browser = Browser.new()
    endpoint = f"{push_service.base_url}/push/{unique('device')}"
    subscribed = await notify.http.post(
        "/v1/push/subscriptions", json=browser.subscription(endpoint, "Điện thoại"), headers=notify.headers(patron_id)
    )
    assert subscribed.status_code == 201, subscribed.text

    await notify.publish(hold_ready(patron_id, title_id), key=title_id)

    messages = await notify.wait_for_inbox(patron_id, 2)
    assert sorted(message["kind"] for message in messages) == ["card-approved", "hold-ready"]
    ready = next(message for message in messages if message["kind"] == "hold-ready")
    assert ready["title"] == "Sách bạn chờ đã sẵn sàng: Dế Mèn phiêu lưu ký"
    assert "Hãy mượn trước" in ready["body"]

    mails = await notify.wait_for_mail(email, 2)
    subjects = sorted(str(mail["Subject"]) for mail in mails)
    assert subjects == ["Sách bạn chờ đã sẵn sàng: Dế Mèn phiêu lưu ký", "Thẻ bạn đọc đã được duyệt"]
    mail = next(mail for mail in mails if "sẵn sàng" in str(mail["Subject"]))
    raw = next(raw for raw in raw_mail_to(notify.maildir, email) if b"=?utf-8?" in raw and b"Subject" in raw)
    subject_line = next(line for line in raw.split(b"\n") if line.startswith(b"Subject: "))
    assert subject_line.isascii()
    assert subject_line.startswith(b"Subject: =?utf-8?")  # RFC 2047: the Vietnamese travels encoded
    assert unicodedata.is_normalized("NFC", str(mail["Subject"]))
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = mail.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert "Chào Nguyễn Thị Ánh," in plain.get_content()
    assert "https://sachso.test/holds" in plain.get_content()
    assert '<a href="https://sachso.test/holds"' in html.get_content()
    assert "Nguyễn Thị Ánh" in str(mail["To"])

    async def pushed() -> bool:
        return len(push_service.for_path(endpoint.removeprefix(push_service.base_url))) == 1

    await wait_until(pushed, within=20)
    (request,) = push_service.for_path(endpoint.removeprefix(push_service.base_url))
    assert request.headers["content-encoding"] == "aes128gcm"
    assert int(request.headers["ttl"]) > 0
    payload = json.loads(http_ece.decrypt(request.body, private_key=browser.private_key, auth_secret=browser.auth))
    assert payload["kind"] == "hold-ready"
    assert payload["title"] == "Sách bạn chờ đã sẵn sàng: Dế Mèn phiêu lưu ký"
    assert payload["lang"] == "vi"
    assert payload["url"] == "/holds"  # tapping it opens the holds in the app, as the email link does
    # VAPID (RFC 8292): a JWT for the push service's origin, signed by the key the server publishes
    scheme, _, credentials = request.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(item.split("=", 1) for item in credentials.split(","))
    server_key = (await notify.http.get("/v1/push/vapid-public-key")).json()["public_key"]
    assert parts["k"] == server_key
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), base64url_decode(server_key))
    claims = jwt.decode(parts["t"], public, algorithms=["ES256"], audience=push_service.base_url)
    assert claims["sub"].startswith("mailto:")


def base64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


async def test_a_redelivered_event_is_sent_once_per_channel(notify: Notify) -> None:
    patron_id, email = await approved_patron(notify, name="Lê Văn Bình")
    title_id = await title(notify, "Truyện Kiều")
    event = hold_ready(patron_id, title_id)
    event_id = await notify.publish(event, key=title_id)
    await notify.wait_for_mail(email, 2)
    for _ in range(3):  # Kafka redelivers (a rebalance, a crash before the commit)
        await notify.publish(event, key=title_id, event_id=event_id)
    marker = await notify.publish(hold_ready(patron_id, await title(notify, "Số đỏ")), key=title_id)
    await notify.wait_for_mail(email, 3)  # the event after the duplicates went through
    assert len(mail_to(notify.maildir, email)) == 3
    kinds = [message["kind"] for message in await notify.inbox(patron_id)]
    assert sorted(kinds) == ["card-approved", "hold-ready", "hold-ready"]
    deliveries = await notify.deliveries(notice_id=event_id)
    assert [(d["channel"], d["status"]) for d in deliveries] == [("email", "sent")]
    assert await notify.database["handled_events"].count_documents({"_id": f"notify:{event_id}"}) == 1
    assert marker


async def test_an_expired_push_subscription_is_marked_and_never_tried_again(
    notify: Notify, push_service: PushService
) -> None:
    patron_id, _ = await approved_patron(notify)
    title_id = await title(notify)
    gone = f"{push_service.base_url}/gone/{unique('device')}"
    response = await notify.http.post(
        "/v1/push/subscriptions", json=Browser.new().subscription(gone), headers=notify.headers(patron_id)
    )
    subscription_id = response.json()["id"]
    first = await notify.publish(hold_ready(patron_id, title_id), key=title_id)

    async def expired_and_settled() -> bool:
        # the sender marks the subscription expired, then records the delivery's outcome: wait for both
        listed = await notify.http.get("/v1/push/subscriptions", headers=notify.headers(patron_id))
        settled = await notify.deliveries(notice_id=first, channel="push", status="failed")
        return listed.json()[0]["active"] is False and len(settled) == 1

    await wait_until(expired_and_settled, within=20)
    (failed,) = await notify.deliveries(notice_id=first, channel="push")
    assert failed["status"] == "failed"
    assert "410" in failed["last_error"]
    assert failed["_id"] == f"{first}:push:{subscription_id}"

    second = await notify.publish(hold_ready(patron_id, title_id), key=title_id)
    await notify.wait_for_inbox(patron_id, 3)
    assert await notify.deliveries(notice_id=second, channel="push") == []
    assert len(push_service.for_path(gone.removeprefix(push_service.base_url))) == 1


async def test_quiet_hours_hold_email_but_a_verification_code_goes_at_once(notify: Notify) -> None:
    patron_id, email = await approved_patron(notify, name="Phạm Minh", language="en")
    await notify.wait_for_mail(email, 1)  # the card approval, before she chose quiet hours
    now_local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    quiet = {
        "start": (now_local - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now_local + timedelta(hours=2)).strftime("%H:%M"),
    }
    chosen = await notify.http.put(
        "/v1/notification-preferences",
        json={"time_zone": "Asia/Ho_Chi_Minh", "quiet_hours": quiet},
        headers=notify.headers(patron_id),
    )
    assert chosen.status_code == 200, chosen.text
    title_id = await title(notify, "Nhật ký trong tù")
    ready_id = await notify.publish(hold_ready(patron_id, title_id), key=title_id)
    await notify.publish(
        lending.EmailVerificationRequested(
            patron_id=patron_id,
            email=email,
            code="731904",
            expires_at=stamp(datetime.now(UTC) + timedelta(minutes=30)),
            preferred_language="en",
            display_name="Phạm Minh",
        ),
        key=patron_id,
    )
    mails = await notify.wait_for_mail(email, 2)
    assert sorted(str(mail["Subject"]) for mail in mails) == [
        "Your email verification code: 731904",
        "Your reader card is approved",
    ]
    (held,) = await notify.deliveries(notice_id=ready_id)
    assert held["status"] == "pending"
    assert held["not_before"] > datetime.now(UTC) + timedelta(minutes=50)
    inbox = await notify.inbox(patron_id)
    assert "hold-ready" in [message["kind"] for message in inbox]  # the inbox makes no noise: never held


async def test_licence_revoked_and_loan_ended_reach_the_inbox(notify: Notify) -> None:
    patron_id, _ = await approved_patron(notify)
    title_id = await title(notify, "Tắt đèn")
    loan_id = unique("loan")
    now = datetime.now(UTC)
    await notify.publish(
        lending.LoanCreated(
            loan_id=loan_id,
            patron_id=patron_id,
            title_id=title_id,
            starts_at=stamp(now),
            due_at=stamp(now + timedelta(days=14)),
        ),
        key=title_id,
    )
    await notify.publish(
        drm_events_pb2.LicenseRevoked(
            license_id="lic-1", loan_id=loan_id, reason="Nhà xuất bản rút giấy phép.", revoked_at=stamp(now)
        ),
        key=loan_id,
        topic=DRM_EVENTS.name,
    )
    await notify.publish(
        lending.LoanExpired(loan_id=loan_id, patron_id=patron_id, title_id=title_id, expired_at=stamp(now)),
        key=title_id,
    )
    messages = await notify.wait_for_inbox(patron_id, 3)
    titles = {message["kind"]: message["title"] for message in messages}
    assert titles["license-revoked"] == "Giấy phép đọc đã bị thu hồi: Tắt đèn"
    assert titles["loan-ended"] == "Đã kết thúc lượt mượn: Tắt đèn"
    reminder = await notify.database["reminders"].find_one({"subject_id": loan_id})
    assert reminder is not None
    assert reminder["status"] == "cancelled"  # the loan ended: no due-soon reminder


async def test_a_revocation_that_overtakes_its_loan_waits_for_it(notify: Notify) -> None:
    """DRM and lending events travel on different topics: the revocation may be read before the loan."""
    patron_id, _ = await approved_patron(notify, name="Vũ Thị Hoa")
    title_id = await title(notify, "Chí Phèo")
    loan_id = unique("loan")
    now = datetime.now(UTC)
    revoked = await notify.publish(
        drm_events_pb2.LicenseRevoked(license_id="lic-2", loan_id=loan_id, reason="", revoked_at=stamp(now)),
        key=loan_id,
        topic=DRM_EVENTS.name,
    )

    async def parked() -> bool:
        return await notify.database["loans"].find_one({"_id": loan_id, "parked_revocation": {"$ne": None}}) is not None

    await wait_until(parked, within=20)
    assert [m["kind"] for m in await notify.inbox(patron_id)] == ["card-approved"]
    await notify.publish(
        lending.LoanCreated(
            loan_id=loan_id,
            patron_id=patron_id,
            title_id=title_id,
            starts_at=stamp(now),
            due_at=stamp(now + timedelta(days=7)),
        ),
        key=title_id,
    )
    messages = await notify.wait_for_inbox(patron_id, 2)
    revocation = next(message for message in messages if message["kind"] == "license-revoked")
    assert revocation["id"] == f"{revoked}:inbox"
    assert revocation["title"] == "Giấy phép đọc đã bị thu hồi: Chí Phèo"


async def test_a_returned_loan_cancels_its_reminder_and_borrowing_cancels_the_hold_reminder(notify: Notify) -> None:
    patron_id, _ = await approved_patron(notify)
    title_id = await title(notify)
    ready = hold_ready(patron_id, title_id)
    await notify.publish(ready, key=title_id)
    await notify.wait_for_inbox(patron_id, 2)
    loan_id = unique("loan")
    now = datetime.now(UTC)
    await notify.publish(
        lending.LoanCreated(
            loan_id=loan_id,
            patron_id=patron_id,
            title_id=title_id,
            starts_at=stamp(now),
            due_at=stamp(now + timedelta(days=7)),
        ),
        key=title_id,
    )
    await notify.publish(
        lending.LoanReturned(
            loan_id=loan_id, patron_id=patron_id, title_id=title_id, channel=lending.RETURN_CHANNEL_PATRON
        ),
        key=title_id,
    )
    reminders = notify.database["reminders"]

    async def settled() -> bool:
        statuses = {r["kind"]: r["status"] async for r in reminders.find({"patron_id": patron_id})}
        return statuses == {NoticeKind.HOLD_LAPSING.value: "cancelled", NoticeKind.LOAN_DUE_SOON.value: "cancelled"}

    await wait_until(settled, within=20)
    # she returned it herself: no "loan ended" message
    assert "loan-ended" not in [message["kind"] for message in await notify.inbox(patron_id)]
