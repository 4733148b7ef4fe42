"""SIP2 messages built and read without a network; checked against pysip2's independent codec."""

from __future__ import annotations

from datetime import datetime

import pysip2
import pytest
from pysip2.models import LoginRequest, PatronInformationRequest, PatronInformationResponse

from lending.domain import sip2
from lending.domain.sip2 import PatronMessage, Sip2Error
from sachso.kit.errors import InvalidInput

WHEN = datetime(2026, 12, 1, 8, 30, 0)


def test_our_requests_are_what_an_ils_decodes() -> None:
    frame = sip2.patron_request(
        PatronMessage.PATRON_INFORMATION, institution="DLK", card_number="DL0001", pin="1234",
        terminal_password="t", when=WHEN, sequence=3, encoding="utf-8",
    )  # fmt: skip
    decoded = pysip2.decode_message(frame, encoding="utf-8")
    assert decoded.sequence_number == 3
    assert decoded.checksum == frame[-5:-1].decode()
    message = decoded.message
    assert isinstance(message, PatronInformationRequest)
    assert (message.institution_id, message.patron_identifier, message.patron_password) == ("DLK", "DL0001", "1234")
    assert message.transaction_date == "20261201    083000"
    login = pysip2.decode_message(sip2.login("sachso", "bí mật", "BMT", 0, "utf-8"), encoding="utf-8").message
    assert isinstance(login, LoginRequest)
    assert (login.login_user_id, login.login_password, login.location_code) == ("sachso", "bí mật", "BMT")
    with pytest.raises(InvalidInput, match="cannot contain"):
        sip2.login("a|CObypass", "x", "", 0, "utf-8")


def test_we_read_what_an_ils_answers() -> None:
    response = PatronInformationResponse(
        patron_status="Y" + " " * 13, language="000", transaction_date="20261201    083000",
        hold_items_count="0000", overdue_items_count="0001", charged_items_count="0002", fine_items_count="0000",
        recall_items_count="0000", unavailable_holds_count="0000", institution_id="DLK", patron_identifier="DL0001",
        personal_name="Nguyễn Thị Hoa", valid_patron="Y", valid_patron_password="Y", email_address="hoa@example.vn",
        screen_message=("Quá hạn",),
    )  # fmt: skip
    frame = pysip2.encode_message(response, sequence_number=1, checksum=True, encoding="utf-8")
    patron = sip2.patron_from_answer(sip2.parse(frame, "utf-8"), "DL0001")
    assert (patron.personal_name, patron.email, patron.screen_message) == (
        "Nguyễn Thị Hoa",
        "hoa@example.vn",
        "Quá hạn",
    )
    assert patron.refusal() == "charge privileges denied"
    unchecked = pysip2.encode_message(response, encoding="utf-8")  # an ILS without error detection
    assert sip2.patron_from_answer(sip2.parse(unchecked, "utf-8"), "DL0001").valid
    with pytest.raises(Sip2Error, match="checksum"):
        sip2.parse(frame[:-5] + (b"0001\r" if frame[-5:-1] == b"0000" else b"0000\r"), "utf-8")
    with pytest.raises(Sip2Error, match="another card"):
        sip2.patron_from_answer(sip2.parse(frame, "utf-8"), "DL0002")
    with pytest.raises(Sip2Error, match="unexpected answer"):
        sip2.parse(b"12something\r", "utf-8")


@pytest.mark.parametrize(
    ("valid", "pin", "status", "refusal"),
    [
        ("Y", "Y", " " * 14, None),
        ("N", "N", " " * 14, "unknown card"),
        ("Y", "N", " " * 14, "wrong PIN"),
        ("Y", "", " " * 14, "wrong PIN"),  # an ILS that does not confirm the PIN is not trusted with it
        ("Y", "Y", "    Y" + " " * 9, "card reported lost"),
        ("Y", "Y", " YYY" + " " * 10, None),  # renewals, recalls, holds denied: reading e-books is not
    ],
)
def test_which_cards_sign_in(valid: str, pin: str, status: str, refusal: str | None) -> None:
    assert sip2.IlsPatron("C", valid != "N", pin == "Y", status).refusal() == refusal
