"""A SIP2 client over TCP, with TLS when the library asks for it, and a deadline on every exchange: the ILS that
does not answer in time is reported as unavailable, never waited on."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

from lending.domain import sip2
from lending.domain.sip2 import IlsPatron, PatronMessage, Sip2Error
from lending.service_layer.clock import Clock, system_clock
from lending.service_layer.ils_sign_in import IlsConnection, IlsUnavailable

MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Sip2Credentials:
    """What the ILS asked us to log in with (from a Secret, never from the database)."""

    user: str = ""
    password: str = ""
    terminal_password: str = ""


class Sip2Directory:
    """Asks each library's ILS about its cards."""

    def __init__(
        self,
        credentials: Mapping[str, Sip2Credentials],
        *,
        timeout_seconds: float = 5.0,
        ca_file: str = "",
        clock: Clock = system_clock,
    ) -> None:
        self.credentials = credentials
        self.timeout_seconds = timeout_seconds
        self.ca_file = ca_file
        self.clock = clock

    async def patron(self, connection: IlsConnection, card_number: str, pin: str) -> IlsPatron:
        credentials = self.credentials.get(connection.library_id, Sip2Credentials())
        where = f"the library's system ({connection.host}:{connection.port})"
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._ask(connection, credentials, card_number, pin)
        except TimeoutError:
            raise IlsUnavailable(
                f"the library's system ({where}) did not answer within {self.timeout_seconds:g} s"
            ) from None
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            raise IlsUnavailable(
                f"the library's system ({where}) cannot be reached: {error.__class__.__name__}"
            ) from None
        except Sip2Error as error:
            raise IlsUnavailable(f"{where} answered wrongly: {error}") from None

    def _tls(self, connection: IlsConnection) -> ssl.SSLContext | None:
        if not connection.tls:
            return None
        return ssl.create_default_context(cafile=self.ca_file or None)

    async def _ask(
        self, connection: IlsConnection, credentials: Sip2Credentials, card_number: str, pin: str
    ) -> IlsPatron:
        tls = self._tls(connection)
        reader, writer = await asyncio.open_connection(
            connection.host,
            connection.port,
            ssl=tls,
            server_hostname=connection.host if tls else None,
            limit=MAX_ANSWER_BYTES,
        )
        try:
            encoding = connection.encoding
            sequence = 0
            if credentials.user:
                writer.write(
                    sip2.login(credentials.user, credentials.password, connection.location, sequence, encoding)
                )
                await writer.drain()
                if not sip2.login_accepted(sip2.parse(await reader.readuntil(b"\r"), encoding)):
                    raise IlsUnavailable("the library's system refused our SIP2 login; its credentials need checking")
                sequence += 1
            writer.write(
                sip2.patron_request(
                    PatronMessage(connection.message),
                    institution=connection.institution,
                    card_number=card_number,
                    pin=pin,
                    terminal_password=credentials.terminal_password,
                    when=self.clock(),
                    sequence=sequence,
                    encoding=encoding,
                )
            )
            await writer.drain()
            answer = sip2.parse(await reader.readuntil(b"\r"), encoding)
            return sip2.patron_from_answer(answer, card_number)
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
