"""Email over SMTP (aiosmtplib): one multipart/alternative message per delivery, plain text and HTML.

Failures are sorted for the sender: a 5xx answer to RCPT means the address bounced (recorded, never tried
again); another 5xx refuses this message only; 4xx answers, timeouts and lost connections are temporary and
retried later. Connections are pooled and reused across messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

import aiosmtplib


@dataclass(frozen=True)
class OutgoingEmail:
    delivery_id: str
    to_address: str
    to_name: str
    language: str
    subject: str
    text: str
    html: str


class EmailRejected(Exception):
    """The server refused for good. ``bounced``: the address itself was refused (stop writing to it)."""

    def __init__(self, message: str, *, bounced: bool) -> None:
        super().__init__(message)
        self.bounced = bounced


class EmailDeferred(Exception):
    """A temporary failure (4xx, timeout, connection lost): try again later."""


_NOT_IN_MSG_ID = re.compile(r"[^A-Za-z0-9._\-]")


def compose(email: OutgoingEmail, *, sender: str, now: datetime | None = None) -> EmailMessage:
    """The RFC 5322 message: non-ASCII headers (Vietnamese subjects and names) are RFC 2047 encoded."""
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = Address(display_name=email.to_name, addr_spec=email.to_address)
    message["Subject"] = email.subject
    message["Date"] = format_datetime(now or datetime.now(UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "sachso.local"
    # Derived from the delivery: a message sent twice (a crash between sending and recording it) keeps its id.
    message["Message-ID"] = f"<{_NOT_IN_MSG_ID.sub('.', email.delivery_id)}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message.set_content(email.text, subtype="plain", charset="utf-8")
    message.add_alternative(email.html, subtype="html", charset="utf-8")
    message["Content-Language"] = email.language  # after the body: set_content drops Content-* headers
    return message


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

    async def _send_on(self, client: aiosmtplib.SMTP, message: EmailMessage, recipient: str) -> None:
        for attempt in (1, 2):
            reused = client.is_connected
            try:
                if not client.is_connected:
                    await client.connect()
                await client.send_message(message, sender=self.envelope_sender, recipients=[recipient])
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
