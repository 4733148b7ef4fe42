"""The email as it goes to the SMTP server, read back with the standard library's parser: headers decode to what
was written, both parts to their exact text, whatever the names, subjects and lengths."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest

from notify.adapters.email import OutgoingEmail, compose

SENDER = "Sách Số <no-reply@sachso.vn>"
NOW = datetime(2025, 3, 6, 7, 30, tzinfo=UTC)
LONG_TEXT = "Cuốn sách «Dế Mèn phiêu lưu ký» bạn đặt trước đã sẵn sàng cho bạn mượn. " * 40


def email(**changes: str) -> OutgoingEmail:
    fields = {
        "delivery_id": "evt-1:email",
        "to_address": "lan@example.vn",
        "to_name": "Trần Thị Lan",
        "language": "vi",
        "subject": "Sách đã sẵn sàng: Dế Mèn phiêu lưu ký",
        "text": "Chào Lan,\n\nSách đã sẵn sàng.\n",
        "html": "<p>Chào Lan,</p>\n<p>Sách đã sẵn sàng.</p>\n",
    }
    return OutgoingEmail(**(fields | changes))


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert not message.defects
    return message


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"to_name": "Lan", "subject": "Your hold is ready", "language": "en"},
        {"to_name": 'Nguyen, "Lan" (Ha Noi)'},  # specials in an ASCII name: quoted
        {"to_name": ""},
        {"subject": "Nhắc hạn trả sách — " * 12},  # folded into several encoded words
        {"subject": "=?utf-8?q?looks_encoded?="},  # ASCII that would read as an encoded word: encoded itself
        {"text": LONG_TEXT, "html": f"<p>{LONG_TEXT}</p>"},
        {"text": "--sachso-alternative_part\n.\n", "html": ""},  # a boundary-like line, a lone dot, nothing
    ],
)
def test_the_message_reads_back_as_written(changes: dict[str, str]) -> None:
    sent = email(**changes)
    raw = compose(sent, sender=SENDER, now=NOW)
    assert raw.isascii()  # headers encoded, parts base64: no SMTP extension needed
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    message = parsed(raw)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == sent.subject
    assert message["From"].addresses[0].display_name == "Sách Số"
    assert message["From"].addresses[0].addr_spec == "no-reply@sachso.vn"
    assert message["To"].addresses[0].display_name == sent.to_name
    assert message["To"].addresses[0].addr_spec == sent.to_address
    assert message["Date"].datetime == NOW
    assert message["Message-ID"] == "<evt-1.email@sachso.vn>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == sent.language
    plain, html = message.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert plain.get_content() == sent.text
    assert html.get_content() == sent.html


def test_a_long_name_is_folded_into_encoded_words() -> None:
    name = "Tôn Nữ Thị Ngọc Bích Phương " * 4
    raw = compose(email(to_name=name), sender=SENDER, now=NOW)
    head = raw.split(b"\r\n\r\n")[0].decode("ascii").split("\r\n")
    assert all(len(line) <= 78 for line in head)
    to = message_from_bytes(raw, policy=policy.compat32)["To"]
    # decoded as RFC 2047 says (CPython's address parser adds a space where a word was split across two)
    assert str(make_header(decode_header(to))) == f"{name} <lan@example.vn>"


def test_a_non_ascii_address_is_written_as_it_is() -> None:
    raw = compose(email(to_address="lan@thư-viện.vn"), sender=SENDER, now=NOW)
    assert "<lan@thư-viện.vn>".encode() in raw  # RFC 6532: the mailer asks for SMTPUTF8


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Sách\r\nBcc: someone@example.vn"},
        {"to_name": "Lan\nBcc: someone@example.vn"},
        {"to_address": "lan@example.vn\r\nBcc: someone@example.vn"},
        {"to_address": "Lan <lan@example.vn>"},
        {"to_address": "lan.example.vn"},
        {"to_address": ""},
    ],
)
def test_no_header_can_be_injected_and_a_malformed_address_is_refused(changes: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"line break|not an email address"):
        compose(email(**changes), sender=SENDER, now=NOW)
