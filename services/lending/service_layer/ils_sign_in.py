"""Signing in with a card of the library's own system (ILS) over SIP2, so nobody registers twice.

A library configured with its ILS's SIP2 address lets its patrons sign in with the card number and PIN they already
have: the ILS checks both on every sign-in (it stays the authority, so this sign-in gives an access token and no
refresh token: a card blocked there cannot sign in here past the token's 15 minutes). The first sign-in links the
card to a Sách Số patron of that library (active at once: the library issued the card); later ones refresh the name
and email. A card the ILS blocks (charging denied, reported lost) is refused, and so is one blocked here by staff.

This is its own use case beside card sign-in (:class:`lending.service_layer.cards.Cards`), so the same throttling
can wrap both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lending.domain.patrons import CardStatus, Patron
from lending.domain.search import nfc
from lending.domain.sip2 import IlsPatron
from lending.errors import CardBlockedInIls, IlsNotConfigured, SignInFailed
from lending.service_layer.cards import ACCESS_TOKEN_SECONDS, AUDIENCE, TokenPair
from lending.service_layer.clock import Clock, system_clock
from sachso.kit.auth import Role, TokenIssuer
from sachso.kit.errors import DependencyUnavailable


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


class IlsSignIn:
    def __init__(
        self, patrons: IlsPatrons, directory: IlsDirectory, issuer: TokenIssuer, clock: Clock = system_clock
    ) -> None:
        self.patrons = patrons
        self.directory = directory
        self.issuer = issuer
        self.clock = clock

    async def configure(self, connection: IlsConnection) -> IlsConnection:
        await self.patrons.save_connection(connection)
        return connection

    async def connection(self, library_id: str) -> IlsConnection:
        found = await self.patrons.connection(library_id)
        if found is None:
            raise IlsNotConfigured(f"library {library_id} does not sign its patrons in through its own system")
        return found

    async def sign_in(self, library_id: str, card_number: str, pin: str) -> TokenPair:
        connection = await self.connection(library_id)
        card_number = card_number.strip()
        answer = await self.directory.patron(connection, card_number, pin)
        refusal = answer.refusal()
        if refusal in ("unknown card", "wrong PIN"):
            raise SignInFailed("card number or PIN is wrong")
        if refusal:
            detail = f"the library's system refuses this card ({refusal})"
            raise CardBlockedInIls(detail + (f": {answer.screen_message}" if answer.screen_message else ""))
        name = nfc(answer.personal_name) or card_number
        email = answer.email.strip().lower()
        patron = await self.patrons.linked(library_id, card_number)
        if patron is None:
            patron = await self.patrons.link(library_id, card_number, name, email)
        elif (patron.display_name, patron.email) != (name, email):
            await self.patrons.refresh(patron.id, name, email)
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
