"""In-memory fakes of the ports of ILS sign-in (:mod:`lending.service_layer.ils_sign_in`): the linked patrons, the
ILS itself, card blocks and the sign-in throttle."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from lending.domain.patrons import CardStatus, Patron
from lending.domain.sip2 import IlsPatron
from lending.errors import CardStateError, SignInLocked
from lending.service_layer.ils_sign_in import IlsConnection, IlsUnavailable

OPEN = " " * 14
BLOCKED = "Y" + " " * 13  # charge privileges denied


class FakeIlsPatrons:
    def __init__(self) -> None:
        self.connections: dict[str, IlsConnection] = {}
        self.patrons: dict[str, Patron] = {}
        self.cards: dict[str, str] = {}  # library:card -> patron id
        self.blocked_by: dict[str, bool] = {}

    async def connection(self, library_id: str) -> IlsConnection | None:
        return self.connections.get(library_id)

    async def save_connection(self, connection: IlsConnection) -> None:
        self.connections[connection.library_id] = connection

    async def linked(self, library_id: str, card_number: str) -> Patron | None:
        patron_id = self.cards.get(f"{library_id}:{card_number}")
        return self.patrons[patron_id] if patron_id else None

    async def link(self, library_id: str, card_number: str, name: str, email: str) -> Patron:
        patron = Patron(f"p{len(self.patrons) + 1}", library_id, name, email, "vi", CardStatus.ACTIVE)
        self.patrons[patron.id] = patron
        self.cards[f"{library_id}:{card_number}"] = patron.id
        return patron

    async def refresh(self, patron_id: str, name: str, email: str) -> None:
        self.patrons[patron_id] = replace(self.patrons[patron_id], display_name=name, email=email)

    async def blocked_by_ils(self, patron_id: str) -> bool:
        return self.blocked_by.get(patron_id, False)

    async def mark_blocked_by_ils(self, patron_id: str, blocked: bool) -> None:
        self.blocked_by[patron_id] = blocked


@dataclass
class FakeIls:
    """The library's ILS: card -> (PIN, name, email, status flags); ``down`` when it does not answer."""

    cards: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    down: bool = False
    asked: int = 0

    async def patron(self, connection: IlsConnection, card_number: str, pin: str) -> IlsPatron:
        self.asked += 1
        if self.down:
            raise IlsUnavailable(f"the library's system ({connection.host}:{connection.port}) cannot be reached")
        if card_number not in self.cards:
            return IlsPatron(card_number, valid=False, pin_accepted=False, status=OPEN)
        known_pin, name, email, status = self.cards[card_number]
        return IlsPatron(card_number, True, pin == known_pin, status, name, email)


class FakeCardBlocks:
    """Blocks as circulation does them: only an active card is blocked, only a blocked one unblocked."""

    def __init__(self, patrons: FakeIlsPatrons) -> None:
        self.patrons = patrons
        self.blocked: list[str] = []
        self.unblocked: list[str] = []

    async def _move(self, patron_id: str, expected: CardStatus, status: CardStatus) -> None:
        patron = self.patrons.patrons[patron_id]
        if patron.status is not expected:
            raise CardStateError(f"no {expected} card {patron_id}")
        self.patrons.patrons[patron_id] = replace(patron, status=status)

    async def block_card(self, patron_id: str) -> None:
        await self._move(patron_id, CardStatus.ACTIVE, CardStatus.BLOCKED)
        self.blocked.append(patron_id)

    async def unblock_card(self, patron_id: str) -> None:
        await self._move(patron_id, CardStatus.BLOCKED, CardStatus.ACTIVE)
        self.unblocked.append(patron_id)


class FakeThrottle:
    """``limit`` failed attempts per credential and client, forgiven by a success."""

    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self.failures: dict[tuple[str, str], int] = {}

    async def admit(self, credential: str, client: str) -> object:
        key = (credential, client)
        self.failures[key] = self.failures.get(key, 0) + 1
        if self.failures[key] > self.limit:
            raise SignInLocked("too many attempts", retry_after=60)
        return key

    async def succeeded(self, attempt: object) -> None:
        self.failures.pop(attempt, None)  # type: ignore[call-overload]
