"""SIP2 (3M Standard Interchange Protocol 2.00), the self-check side, without I/O: the messages Sách Số sends to a
library's ILS to check a patron's card and PIN, and the reading of its answers.

Sent: Login (93) when the ILS wants one, then Patron Information (63) or Patron Status (23). Read: Login Response
(94), Patron Information Response (64), Patron Status Response (24). Every message carries a sequence number and
checksum (``AY``/``AZ``); an answer's checksum is verified when present.

A card is refused when the ILS says the patron is not valid (``BL`` N), the PIN is wrong (``CQ`` N), or its patron
status denies charging (position 0) or reports the card lost (position 4): what a circulation desk would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sachso.kit.errors import InvalidInput

FIELD_DELIMITER = "|"
# patron status: 14 positions, "Y" where the condition holds
_STATUS_REFUSALS = {
    0: "charge privileges denied",
    4: "card reported lost",
}


class Sip2Error(ValueError):
    """An answer that is not what SIP2 says it should be."""


class PatronMessage(StrEnum):
    PATRON_INFORMATION = "patron-information"  # 63 / 64
    PATRON_STATUS = "patron-status"  # 23 / 24


@dataclass(frozen=True)
class IlsPatron:
    """What the ILS said about a card."""

    card_number: str
    valid: bool
    pin_accepted: bool
    status: str  # the 14 patron status flags
    personal_name: str = ""
    email: str = ""
    screen_message: str = ""

    def refusal(self) -> str | None:
        """Why this card may not sign in, or None."""
        if not self.valid:
            return "unknown card"
        if not self.pin_accepted:
            return "wrong PIN"
        return self.blocked_because()

    def blocked_because(self) -> str | None:
        reasons = [
            reason for position, reason in _STATUS_REFUSALS.items() if self.status[position : position + 1] == "Y"
        ]
        return ", ".join(reasons) or None


def transaction_date(moment: datetime) -> str:
    """18 characters: YYYYMMDD, 4 spaces (local time: no zone), HHMMSS."""
    return f"{moment:%Y%m%d}    {moment:%H%M%S}"


def checksum(prefix: bytes) -> str:
    """Two's complement of the sum of every byte up to and including ``AZ``, 4 hex digits."""
    return f"{(-sum(prefix)) & 0xFFFF:04X}"


def _field(identifier: str, value: str) -> str:
    if FIELD_DELIMITER in value or "\r" in value or "\n" in value or "\x00" in value:
        raise InvalidInput(f"SIP2 field {identifier} cannot contain '|' or line breaks")
    return f"{identifier}{value}{FIELD_DELIMITER}"


def frame(body: str, sequence: int, encoding: str) -> bytes:
    """``body`` with its sequence number, checksum and carriage return."""
    prefix = f"{body}AY{sequence % 10}AZ".encode(encoding)
    return prefix + checksum(prefix).encode("ascii") + b"\r"


def login(user: str, password: str, location: str, sequence: int, encoding: str) -> bytes:
    body = "9300" + _field("CN", user) + _field("CO", password) + (_field("CP", location) if location else "")
    return frame(body, sequence, encoding)


def patron_request(
    message: PatronMessage,
    *,
    institution: str,
    card_number: str,
    pin: str,
    terminal_password: str,
    when: datetime,
    sequence: int,
    encoding: str,
) -> bytes:
    """Patron Information (63, no item details asked) or Patron Status (23) for ``card_number`` with its PIN."""
    fields = _field("AO", institution) + _field("AA", card_number) + _field("AC", terminal_password) + _field("AD", pin)
    if message is PatronMessage.PATRON_INFORMATION:
        body = "63" + "000" + transaction_date(when) + " " * 10 + fields
    else:
        body = "23" + "000" + transaction_date(when) + fields
    return frame(body, sequence, encoding)


@dataclass(frozen=True)
class Answer:
    command: str
    fixed: str
    fields: dict[str, list[str]]

    def first(self, identifier: str) -> str:
        values = self.fields.get(identifier)
        return values[0] if values else ""


_FIXED_LENGTHS = {"94": 1, "64": 14 + 3 + 18 + 6 * 4, "24": 14 + 3 + 18, "96": 0}


def parse(raw: bytes, encoding: str) -> Answer:
    """One answer frame (with or without its CR): checksum verified when present, fields split."""
    data = raw.rstrip(b"\r\n")
    if len(data) >= 6 and data[-6:-4] == b"AZ":
        if checksum(data[:-4]) != data[-4:].decode("ascii", "replace").upper():
            raise Sip2Error("the answer's checksum is wrong")
        data = data[:-6]
        if len(data) >= 3 and data[-3:-1] == b"AY":
            data = data[:-3]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise Sip2Error(f"the answer is not {encoding}") from None
    command = text[:2]
    if command not in _FIXED_LENGTHS:
        raise Sip2Error(f"unexpected answer {command!r}")
    length = _FIXED_LENGTHS[command]
    if len(text) < 2 + length:
        raise Sip2Error(f"answer {command} is too short")
    fields: dict[str, list[str]] = {}
    for part in text[2 + length :].split(FIELD_DELIMITER):
        if len(part) >= 2:
            fields.setdefault(part[:2], []).append(part[2:])
    return Answer(command, text[2 : 2 + length], fields)


def login_accepted(answer: Answer) -> bool:
    return answer.command == "94" and answer.fixed == "1"


def patron_from_answer(answer: Answer, card_number: str) -> IlsPatron:
    if answer.command not in ("64", "24"):
        raise Sip2Error(f"expected a patron answer, got {answer.command}")
    if answer.first("AA") and answer.first("AA") != card_number:
        raise Sip2Error("the answer is about another card")
    return IlsPatron(
        card_number=card_number,
        valid=answer.first("BL") != "N",
        pin_accepted=answer.first("CQ") == "Y",
        status=answer.fixed[:14],
        personal_name=answer.first("AE").strip(),
        email=answer.first("BE").strip(),
        screen_message=" ".join(answer.fields.get("AF", [])).strip(),
    )
