"""Email over SMTP (aiosmtplib): one multipart/alternative message per delivery, plain text and HTML.

The message is written out as bytes once, by hand rather than with :mod:`email`'s object model: that model parsed
and folded every header twice (building, then flattening) and cost some 2 ms of CPU per message, most of a busy
sender's CPU. The bytes are plain 7-bit MIME — RFC 2047 encoded-word headers, each part base64 in UTF-8 — so they
need no SMTP extension, and a base64 body can never contain the multipart boundary.

Failures are sorted for the sender: a 5xx answer to RCPT means the address bounced (recorded, never tried
again); another 5xx refuses this message only; 4xx answers, timeouts and lost connections are temporary and
retried later. Connections are pooled and reused across messages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

import aiosmtplib

from notify.service_layer.channels import EmailDeferred, EmailRejected, OutgoingEmail

__all__ = ["EmailDeferred", "EmailRejected", "OutgoingEmail", "SmtpMailer", "compose"]


_NOT_IN_MSG_ID = re.compile(r"[^A-Za-z0-9._\-]")
# Outside the base64 alphabet ("-", "_"), so no line of a part can be taken for it.
_BOUNDARY = "sachso-alternative_part"
_NOT_AN_ADDRESS = re.compile(r"[\s<>()\[\],;:\\\"]")


def compose(email: OutgoingEmail, *, sender: str, now: datetime | None = None) -> bytes:
    """The RFC 5322 message, CRLF line ends: non-ASCII headers (Vietnamese subjects and names) RFC 2047 encoded.

    An address that is not plain ASCII is written as it is (RFC 6532): the mailer then asks for SMTPUTF8.
    """
    sender_name, sender_address = parseaddr(sender)
    domain = sender_address.rpartition("@")[2] or "sachso.local"
    head = [
        f"From: {_mailbox(sender_name, sender_address, 'From')}",
        f"To: {_mailbox(email.to_name, email.to_address, 'To')}",
        f"Subject: {_unstructured(email.subject, 'Subject')}",
        f"Date: {format_datetime(now or datetime.now(UTC))}",
        # Derived from the delivery: a message sent twice (a crash between sending and recording it) keeps its id.
        f"Message-ID: <{_NOT_IN_MSG_ID.sub('.', email.delivery_id)}@{domain}>",
        "Auto-Submitted: auto-generated",  # RFC 3834: no vacation replies
        f"Content-Language: {_unstructured(email.language, 'Content-Language')}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{_BOUNDARY}"',
    ]
    return b"".join(
        [
            "\r\n".join(head).encode(),
            b"\r\n\r\n",
            _part("plain", email.text),
            _part("html", email.html),
            f"--{_BOUNDARY}--\r\n".encode(),
        ]
    )


def _part(subtype: str, content: str) -> bytes:
    head = [f"--{_BOUNDARY}", f'Content-Type: text/{subtype}; charset="utf-8"', "Content-Transfer-Encoding: base64"]
    body = base64.encodebytes(content.encode()).replace(b"\n", b"\r\n")  # lines of 76
    return "\r\n".join([*head, "", ""]).encode() + body


def _unstructured(value: str, field: str) -> str:
    """``value`` as it is when it is plain ASCII, else as RFC 2047 encoded words; folded either way."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"{field} may not contain a line break")
    charset = "us-ascii" if value.isascii() and "=?" not in value else "utf-8"
    return Header(value, charset, header_name=field).encode(linesep="\r\n")


def _mailbox(name: str, address: str, field: str) -> str:
    """``Name <address>``, the name quoted or encoded as it needs; a malformed address is refused."""
    if not address or address.count("@") != 1 or _NOT_AN_ADDRESS.search(address):
        raise ValueError(f"not an email address: {address!r}")
    if not name:
        return address
    if name.isascii() and "=?" not in name and "\r" not in name and "\n" not in name:
        return formataddr((name, address))  # quoted if it must be
    return f"{_unstructured(name, field)} <{address}>"


class SmtpMailer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool | None = False,
        timeout_seconds: float = 30.0,
        connections: int = 4,
    ) -> None:
        self.sender = sender
        self.envelope_sender = parseaddr(sender)[1]
        self._options = {
            "hostname": host,
            "port": port,
            "username": username,
            "password": password,
            "use_tls": use_tls,
            "start_tls": start_tls,
            "timeout": timeout_seconds,
        }
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        for _ in range(connections):
            self._idle.put_nowait(aiosmtplib.SMTP(**self._options))  # type: ignore[arg-type]

    async def send(self, email: OutgoingEmail) -> None:
        """Hand ``email`` to the SMTP server; raise :class:`EmailRejected` or :class:`EmailDeferred`."""
        message = compose(email, sender=self.sender)
        client = await self._idle.get()
        try:
            await self._send_on(client, message, email.to_address)
        finally:
            self._idle.put_nowait(client)

    async def _send_on(self, client: aiosmtplib.SMTP, message: bytes, recipient: str) -> None:
        options = [] if recipient.isascii() else ["SMTPUTF8"]
        for attempt in (1, 2):
            reused = client.is_connected
            try:
                if not client.is_connected:
                    await client.connect()
                await client.sendmail(self.envelope_sender, [recipient], message, mail_options=options)
                return
            except aiosmtplib.SMTPRecipientsRefused as error:
                refused = error.recipients[0] if error.recipients else None
                code = refused.code if refused else 550
                if code >= 500:
                    raise EmailRejected(f"{code} {refused.message if refused else ''}", bounced=True) from error
                raise EmailDeferred(f"{code} {refused.message if refused else ''}") from error
            except aiosmtplib.SMTPRecipientRefused as error:
                if error.code >= 500:
                    raise EmailRejected(f"{error.code} {error.message}", bounced=True) from error
                raise EmailDeferred(f"{error.code} {error.message}") from error
            except aiosmtplib.SMTPServerDisconnected as error:
                await _close(client)
                if reused and attempt == 1:
                    continue  # an idle pooled connection the server had closed: once more on a fresh one
                raise EmailDeferred(f"connection lost: {error}") from error
            except aiosmtplib.SMTPResponseException as error:
                if error.code >= 500:
                    raise EmailRejected(f"{error.code} {error.message}", bounced=False) from error
                raise EmailDeferred(f"{error.code} {error.message}") from error
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
                await _close(client)
                raise EmailDeferred(f"{type(error).__name__}: {error}") from error

    async def close(self) -> None:
        while not self._idle.empty():
            await _close(self._idle.get_nowait())


async def _close(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        with contextlib.suppress(Exception):
            await client.quit()
    with contextlib.suppress(Exception):
        client.close()
