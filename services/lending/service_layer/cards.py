"""Reader cards: remote application, email verification, approval by the library, and card sign-in."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from cachetools import TTLCache

from lending.domain import patrons as cards
from lending.domain.patrons import CardStatus, Patron, Verification
from lending.domain.throttle import ApplicationLimits
from lending.errors import (
    ApplicationNotFound,
    CardBlocked,
    CurrentPinWrong,
    DuplicateRegistration,
    LibraryNotFound,
    SignInFailed,
    VerificationFailed,
)
from lending.service_layer.clock import Clock, new_id, system_clock, timestamp
from lending.service_layer.lending_events import patron_event
from lending.service_layer.throttle import ApplicationThrottle, AttemptCounters, SignInThrottle
from lending.service_layer.unit_of_work import CardStatuses, DuplicateEntry, LendingUnitOfWork, UnitOfWorkFactory
from sachso.events.v1 import lending_events_pb2 as events
from sachso.kit.errors import InvalidInput, NotFound
from sachso.kit.tokens import Principal, Role, TokenIssuer

ACCESS_TOKEN_SECONDS = 15 * 60
REFRESH_TOKEN_LIFETIME = timedelta(days=30)
AUDIENCE = "sachso"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 (the OAuth token type, not a secret)


@dataclass(frozen=True)
class Application:
    patron_id: str
    status: CardStatus


class Secrets:
    """Argon2id hashes for PINs and passwords, computed off the event loop."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._stand_in: str | None = None

    async def hash(self, secret: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, secret)

    async def matches(self, hashed: str | None, secret: str) -> bool:
        """Whether ``secret`` is the one ``hashed`` was made from. Without a hash (an unknown card or user) a
        stand-in hash is checked all the same, so the answer takes as long and nothing tells the two apart."""
        if hashed is None:
            if self._stand_in is None:
                self._stand_in = await self.hash(secrets.token_urlsafe(16))
            await self._verify(self._stand_in, secret)
            return False
        return await self._verify(hashed, secret)

    async def _verify(self, hashed: str, secret: str) -> bool:
        try:
            return await asyncio.to_thread(self.hasher.verify, hashed, secret)
        except VerificationError:
            return False


class Cards:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        counters: AttemptCounters,
        issuer: TokenIssuer,
        secrets_: Secrets | None = None,
        clock: Clock = system_clock,
        throttle: SignInThrottle | None = None,
        application_limits: ApplicationLimits | None = None,
    ) -> None:
        self.uow = uow
        self.issuer = issuer
        self.secrets = secrets_ or Secrets()
        self.clock = clock
        self.throttle = throttle or SignInThrottle(counters, clock=clock)
        self.applications = ApplicationThrottle(counters, application_limits, clock=clock)

    async def apply(
        self,
        *,
        library_id: str,
        display_name: str,
        email: str,
        pin: str,
        preferred_language: str = "vi",
        client: str = "unknown",
    ) -> Application:
        """A person applies for a card at ``library_id``; a one-time code goes to her email. Applications are
        rate-limited per client and per address (:class:`ApplicationThrottle`) before anything is written."""
        if not (pin.isdigit() and 4 <= len(pin) <= 8):
            raise InvalidInput("the PIN must be 4 to 8 digits")
        display_name = cards.person_name(display_name)
        email = email.strip().lower()
        await self.applications.admit(client, email)
        pin_hash = await self.secrets.hash(pin)
        code = f"{secrets.randbelow(1_000_000):06d}"

        async def work(uow: LendingUnitOfWork) -> Application:
            now = self.clock()
            if await uow.libraries.get(library_id) is None:
                raise LibraryNotFound(f"no library {library_id}")
            patron = Patron(
                new_id(), library_id, display_name, email, preferred_language, CardStatus.PENDING_VERIFICATION
            )
            expires_at = now + cards.VERIFICATION_CODE_LIFETIME
            verification = Verification(cards.hash_code(patron.id, code), expires_at)
            try:
                await uow.cards.add_application(patron, pin_hash, verification, now)
            except DuplicateEntry:
                raise DuplicateRegistration(f"{email} already has a card or an application at this library") from None
            uow.emit(
                patron_event(
                    patron.id,
                    events.PatronRegistered(
                        patron_id=patron.id,
                        library_id=library_id,
                        display_name=display_name,
                        email=email,
                        preferred_language=preferred_language,
                        registered_at=timestamp(now),
                    ),
                )
            )
            uow.emit(
                patron_event(
                    patron.id,
                    events.EmailVerificationRequested(
                        patron_id=patron.id,
                        email=email,
                        code=code,
                        expires_at=timestamp(expires_at),
                        preferred_language=preferred_language,
                        display_name=display_name,
                    ),
                )
            )
            return Application(patron.id, patron.status)

        return await self.uow().run(work)

    async def verify_email(self, patron_id: str, code: str) -> Application:
        """The applicant proves her email; the library's policy may approve the card at once."""

        async def work(uow: LendingUnitOfWork) -> Application | VerificationFailed:
            now = self.clock()
            patron = await uow.patrons.get(patron_id)
            if patron is None:
                raise ApplicationNotFound(f"no card application {patron_id}")
            verification = await uow.cards.verification(patron_id)
            if verification is None:
                raise VerificationFailed("no code is pending for this application")
            try:
                verification.check(patron_id, code, now)
            except VerificationFailed as failure:
                # the failed attempt must count even though the request fails: commit it, then report
                await uow.cards.count_wrong_code(patron_id)
                return failure
            library = await uow.libraries.get(patron.library_id)
            status = cards.after_verification(patron.status, auto_approve=bool(library and library.auto_approve_cards))
            await uow.cards.mark_verified(patron_id, status, now)
            if status is CardStatus.ACTIVE:
                await self._issue_card(uow, patron, now)
            return Application(patron_id, status)

        result = await self.uow().run(work)
        if isinstance(result, VerificationFailed):
            raise result
        return result

    async def decide(self, patron_id: str, *, approve: bool, reason: str = "") -> Patron:
        """A librarian approves or rejects a verified application (authorization is checked by the caller)."""

        async def work(uow: LendingUnitOfWork) -> Patron:
            now = self.clock()
            patron = await uow.patrons.get(patron_id)
            if patron is None:
                raise ApplicationNotFound(f"no card application {patron_id}")
            cards.ensure_decidable(patron.status)
            if approve:
                return await self._issue_card(uow, patron, now)
            await uow.cards.reject(patron_id, reason)
            uow.emit(
                patron_event(
                    patron_id,
                    events.PatronRejected(
                        patron_id=patron_id,
                        library_id=patron.library_id,
                        reason=reason,
                        display_name=patron.display_name,
                        email=patron.email,
                        preferred_language=patron.preferred_language,
                    ),
                )
            )
            return replace(patron, status=CardStatus.REJECTED)

        return await self.uow().run(work)

    async def _issue_card(self, uow: LendingUnitOfWork, patron: Patron, now: datetime) -> Patron:
        library = await uow.libraries.get(patron.library_id)
        assert library is not None
        policy = await uow.libraries.policy(patron.library_id)
        number = cards.card_number(library.code, await uow.libraries.next_card_sequence(patron.library_id))
        expires_at = now + policy.card_validity
        await uow.cards.issue(patron.id, number, expires_at, now)
        uow.emit(
            patron_event(
                patron.id,
                events.PatronApproved(
                    patron_id=patron.id,
                    library_id=patron.library_id,
                    card_number=number,
                    display_name=patron.display_name,
                    email=patron.email,
                    preferred_language=patron.preferred_language,
                    card_expires_at=timestamp(expires_at),
                    approved_at=timestamp(now),
                ),
            )
        )
        return replace(patron, status=CardStatus.ACTIVE, card_number=number, card_expires_at=expires_at)

    async def renew_card(self, patron_id: str) -> Patron:
        async def work(uow: LendingUnitOfWork) -> Patron:
            now = self.clock()
            patron = await uow.patrons.get(patron_id)
            if patron is None or patron.status is not CardStatus.ACTIVE:
                raise ApplicationNotFound(f"no active card {patron_id}")
            policy = await uow.libraries.policy(patron.library_id)
            expires_at = max(now, patron.card_expires_at or now) + policy.card_validity
            await uow.cards.extend(patron_id, expires_at)
            return replace(patron, card_expires_at=expires_at)

        return await self.uow().run(work)

    # -- sign-in -------------------------------------------------------------------------------------------
    # The secrets are checked between units of work: a transaction never waits on a slow hash.

    async def sign_in(self, card_number: str, pin: str, client: str = "unknown") -> TokenPair:
        """Card number and PIN give an access and a refresh token. The attempt is counted before the PIN is
        checked (:class:`SignInThrottle`); an unknown card number is answered exactly like a wrong PIN."""
        number = card_number.strip().upper()
        attempt = await self.throttle.admit(f"card:{number}", client)
        found = await self.uow().run(lambda uow: uow.cards.by_card_number(number))
        if not await self.secrets.matches(found[1] if found else None, pin):
            raise SignInFailed("card number or PIN is wrong")
        assert found is not None
        await self.throttle.succeeded(attempt)
        patron = found[0]
        if patron.status is CardStatus.BLOCKED:  # said only to whoever knows the PIN
            raise CardBlocked("this reader card is blocked; please contact your library")
        return await self._tokens_for(patron, self.clock())

    async def change_pin(self, patron_id: str, current_pin: str, new_pin: str) -> None:
        """A new PIN, given the current one. Every device signed in with the old one must sign in again."""
        found = await self.uow().run(lambda uow: uow.cards.pin_hash(patron_id))
        if found is None:
            raise NotFound("no reader card for this account")
        if not await self.secrets.matches(found[1], current_pin):
            raise CurrentPinWrong("the current PIN is wrong")
        pin_hash = await self.secrets.hash(new_pin)

        async def work(uow: LendingUnitOfWork) -> None:
            await uow.cards.set_pin_hash(patron_id, pin_hash)
            await uow.refresh_tokens.revoke_all(patron_id)

        await self.uow().run(work)

    async def sign_out_everywhere(self, patron_id: str) -> int:
        """Ends the patron's sessions on every device (their refresh tokens; access tokens lapse within minutes)."""
        return await self.uow().run(lambda uow: uow.refresh_tokens.revoke_all(patron_id))

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Trade a refresh token (once) for a new pair; the old one stops working."""
        now = self.clock()

        async def work(uow: LendingUnitOfWork) -> tuple[tuple[str, datetime] | None, Patron | None]:
            token = await uow.refresh_tokens.take(_digest(refresh_token))  # used up even if refused below
            return token, (await uow.patrons.get(token[0]) if token else None)

        token, patron = await self.uow().run(work)
        if token is None or token[1] <= now:
            raise SignInFailed("the refresh token is unknown, used or expired; sign in again")
        if patron is None or patron.status is CardStatus.REJECTED:
            raise SignInFailed("this card can no longer sign in")
        if patron.status is CardStatus.BLOCKED:
            raise CardBlocked("this reader card is blocked; please contact your library")
        return await self._tokens_for(patron, now)

    async def _tokens_for(self, patron: Patron, now: datetime) -> TokenPair:
        access = self.issuer.issue(
            patron.id,
            audience=AUDIENCE,
            roles=[Role.PATRON],
            ttl_seconds=ACCESS_TOKEN_SECONDS,
            library_id=patron.library_id,
            name=patron.display_name,
        )
        refresh = secrets.token_urlsafe(32)
        expires_at = now + REFRESH_TOKEN_LIFETIME
        await self.uow().run(lambda uow: uow.refresh_tokens.add(_digest(refresh), patron.id, expires_at))
        return TokenPair(access, refresh, ACCESS_TOKEN_SECONDS)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CardAccess:
    """Refuses a patron's access token as soon as her card is blocked (each replica asks the database, with a
    memory of ``remember_seconds``, so a block takes effect everywhere within seconds, not when tokens expire)."""

    def __init__(self, statuses: CardStatuses, remember_seconds: float = 2.0) -> None:
        self.statuses = statuses
        self._recent: TTLCache[str, CardStatus | None] = TTLCache(maxsize=100_000, ttl=remember_seconds)

    async def ensure_not_blocked(self, principal: Principal) -> None:
        if Role.PATRON not in principal.roles:
            return
        if principal.subject in self._recent:
            status = self._recent[principal.subject]
        else:
            status = await self.statuses.card_status(principal.subject)
            self._recent[principal.subject] = status
        if status is CardStatus.BLOCKED:
            raise CardBlocked("this reader card is blocked; please contact your library")
