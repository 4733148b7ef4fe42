"""Signing in with a card of the library's own system (ILS) over SIP2, so nobody registers twice.

A library configured with its ILS's SIP2 address lets its patrons sign in with the card number and PIN they already
have: the ILS checks both on every sign-in (it stays the authority, so this sign-in gives an access token and no
refresh token: a card blocked there cannot sign in here past the token's 15 minutes). The first sign-in links the
card to a Sách Số patron of that library (active at once: the library issued the card); later ones refresh the name
and email and re-check her status there. A card the ILS blocks (charging denied, reported lost) is refused; if it is
linked already, it is blocked here too, as staff would block it (her loans returned, ready holds passed on, DRM and
the reader told), and marked as blocked *by the ILS*: when the ILS lifts its block, her next sign-in lifts ours. A
block staff set here is lifted only by staff.

Attempts are counted by the same sign-in throttle as card and staff sign-in (per card and client, per client),
before the ILS is asked, so nobody guesses PINs through us.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lending.domain.patrons import CardStatus, Patron
from lending.domain.search import nfc
from lending.domain.sip2 import IlsPatron
from lending.errors import CardBlockedInIls, CardStateError, IlsNotConfigured, SignInFailed
from lending.service_layer.cards import ACCESS_TOKEN_SECONDS, AUDIENCE, TokenPair
from lending.service_layer.clock import Clock, system_clock
from lending.service_layer.staff import Throttle
from sachso.kit.errors import DependencyUnavailable
from sachso.kit.tokens import Role, TokenIssuer


class IlsUnavailable(DependencyUnavailable):
    problem = "ils-unavailable"
    title = "The library's own system does not answer; try again in a few minutes"


@dataclass(frozen=True)
class IlsConnection:
    """Where a library's ILS answers SIP2 (credentials are in settings, not here)."""

    library_id: str
    host: str
    port: int
    institution: str
    tls: bool = False
    location: str = ""
    encoding: str = "utf-8"
    message: str = "patron-information"  # or patron-status


class IlsDirectory(Protocol):
    async def patron(self, connection: IlsConnection, card_number: str, pin: str) -> IlsPatron:
        """What the ILS says about the card and PIN; :class:`IlsUnavailable` when it does not answer."""


class IlsPatrons(Protocol):
    async def connection(self, library_id: str) -> IlsConnection | None: ...

    async def save_connection(self, connection: IlsConnection) -> None: ...

    async def linked(self, library_id: str, card_number: str) -> Patron | None: ...

    async def link(self, library_id: str, card_number: str, name: str, email: str) -> Patron:
        """A new active patron of ``library_id`` for the ILS card (or the one a concurrent sign-in linked)."""

    async def refresh(self, patron_id: str, name: str, email: str) -> None: ...

    async def blocked_by_ils(self, patron_id: str) -> bool:
        """Whether the block on her card here came from the ILS (not from staff)."""

    async def mark_blocked_by_ils(self, patron_id: str, blocked: bool) -> None: ...


class CardBlocks(Protocol):
    """Blocking a card here, as staff do (:meth:`lending.service_layer.circulation.Circulation.block_card`)."""

    async def block_card(self, patron_id: str) -> None: ...

    async def unblock_card(self, patron_id: str) -> None: ...


class IlsSignIn:
    def __init__(
        self,
        patrons: IlsPatrons,
        directory: IlsDirectory,
        issuer: TokenIssuer,
        clock: Clock = system_clock,
        *,
        blocks: CardBlocks | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.patrons = patrons
        self.directory = directory
        self.issuer = issuer
        self.clock = clock
        self.blocks = blocks
        self.throttle = throttle

    async def configure(self, connection: IlsConnection) -> IlsConnection:
        await self.patrons.save_connection(connection)
        return connection

    async def connection(self, library_id: str) -> IlsConnection:
        found = await self.patrons.connection(library_id)
        if found is None:
            raise IlsNotConfigured(f"library {library_id} does not sign its patrons in through its own system")
        return found

    async def sign_in(self, library_id: str, card_number: str, pin: str, client: str = "unknown") -> TokenPair:
        connection = await self.connection(library_id)
        card_number = card_number.strip()
        attempt = await self.throttle.admit(f"ils:{library_id}:{card_number}", client) if self.throttle else None
        answer = await self.directory.patron(connection, card_number, pin)
        refusal = answer.refusal()
        if refusal in ("unknown card", "wrong PIN"):
            raise SignInFailed("card number or PIN is wrong")
        if self.throttle is not None:
            await self.throttle.succeeded(attempt)
        patron = await self.patrons.linked(library_id, card_number)
        if refusal:
            if patron is not None:
                await self._block_here(patron)
            detail = f"the library's system refuses this card ({refusal})"
            raise CardBlockedInIls(detail + (f": {answer.screen_message}" if answer.screen_message else ""))
        name = nfc(answer.personal_name) or card_number
        email = answer.email.strip().lower()
        if patron is None:
            patron = await self.patrons.link(library_id, card_number, name, email)
        elif (patron.display_name, patron.email) != (name, email):
            await self.patrons.refresh(patron.id, name, email)
        if patron.status is CardStatus.BLOCKED and await self._lift_ils_block(patron):
            patron = Patron(**{**patron.__dict__, "status": CardStatus.ACTIVE})
        if patron.status is not CardStatus.ACTIVE:
            raise CardBlockedInIls(f"this card is {patron.status} at Sách Số; please contact your library")
        token = self.issuer.issue(
            patron.id,
            audience=AUDIENCE,
            roles=[Role.PATRON],
            ttl_seconds=ACCESS_TOKEN_SECONDS,
            library_id=patron.library_id,
            name=name,
        )
        return TokenPair(token, "", ACCESS_TOKEN_SECONDS)

    async def _block_here(self, patron: Patron) -> None:
        """The ILS blocks a linked card: block it here as staff would, remembering that the ILS did."""
        if self.blocks is None or patron.status is not CardStatus.ACTIVE:
            return
        try:
            await self.blocks.block_card(patron.id)
        except CardStateError:
            return  # blocked meanwhile (by staff, or a concurrent sign-in): that block stays as it is
        await self.patrons.mark_blocked_by_ils(patron.id, True)

    async def _lift_ils_block(self, patron: Patron) -> bool:
        """The ILS no longer blocks the card: lift our block if it was the ILS's (a staff block stays)."""
        if self.blocks is None or not await self.patrons.blocked_by_ils(patron.id):
            return False
        try:
            await self.blocks.unblock_card(patron.id)
        except CardStateError:
            return False
        await self.patrons.mark_blocked_by_ils(patron.id, False)
        return True
