"""Staff and publisher accounts, their sign-in, and who may manage which library.

Accounts reach storage only through :class:`StaffAccounts` (``adapters/accounts.py`` on MongoDB,
``tests/unit/lending/account_fakes.py`` in memory); each use case is one read or one conditional write, so it needs no
transaction of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lending.domain.network import LibraryNetwork
from lending.domain.stewardship import may_curate_title, title_stewards
from lending.errors import SignInFailed
from lending.service_layer.cards import ACCESS_TOKEN_SECONDS, AUDIENCE, Secrets, TokenPair
from lending.service_layer.clock import new_id
from lending.service_layer.unit_of_work import DuplicateEntry
from sachso.kit.errors import Conflict, Forbidden, InvalidInput
from sachso.kit.tokens import Principal, Role, TokenIssuer

STAFF_ROLES = (Role.LIBRARIAN, Role.LIBRARY_ADMIN, Role.PROVINCE_ADMIN)


def may_manage(principal: Principal, library_id: str, network: LibraryNetwork) -> bool:
    """A librarian manages her library; a library admin hers and those below it; a province admin (staff of the
    provincial library) the whole province below her library — not another province hosted by the same deployment
    until the two merge."""
    if principal.library_id is None or library_id not in network or principal.library_id not in network:
        return False
    if principal.has_any_role(Role.PROVINCE_ADMIN, Role.LIBRARY_ADMIN):
        return network.is_within(library_id, principal.library_id)
    return Role.LIBRARIAN in principal.roles and principal.library_id == library_id


def ensure_may_manage(principal: Principal, library_id: str, network: LibraryNetwork) -> None:
    if not may_manage(principal, library_id, network):
        raise Forbidden(f"you do not manage library {library_id}")


def ensure_may_curate_title(principal: Principal, title: Mapping[str, Any], network: LibraryNetwork) -> None:
    """Staff change a title's record only if they manage every library holding it (see domain.stewardship)."""
    if Role.PROVINCE_ADMIN in principal.roles:
        return
    stewards = title_stewards(title.get("library_ids", []), title.get("added_by_library_id"))
    if not may_curate_title(stewards, lambda library_id: may_manage(principal, library_id, network)):
        held_by = ", ".join(sorted(stewards)) or "the province"
        raise Forbidden(f"this title is looked after by {held_by}; you do not manage all of them")


@dataclass(frozen=True)
class StaffAccount:
    id: str
    username: str  # lower case, trimmed
    password_hash: str
    role: Role
    library_id: str


@dataclass(frozen=True)
class PublisherAccount:
    id: str
    name: str
    secret_hash: str


class StaffAccounts(Protocol):
    async def library_exists(self, library_id: str) -> bool: ...

    async def add_staff(self, account: StaffAccount) -> None:
        """Raises :class:`DuplicateEntry` when the user name is taken."""

    async def staff_by_username(self, username: str) -> StaffAccount | None: ...

    async def add_publisher(self, account: PublisherAccount) -> None:
        """Raises :class:`DuplicateEntry` when the publisher id is taken."""

    async def publisher(self, publisher_id: str) -> PublisherAccount | None: ...


class Throttle(Protocol):
    """The sign-in throttle (:class:`lending.service_layer.throttle.SignInThrottle`): count an attempt before its
    secret is checked (raising when a limit is reached), forgive a client's failures when it was right."""

    async def admit(self, credential: str, client: str) -> Any: ...

    async def succeeded(self, attempt: Any) -> None: ...


class Accounts:
    def __init__(
        self,
        accounts: StaffAccounts,
        issuer: TokenIssuer,
        secrets_: Secrets,
        throttle: Throttle,
    ) -> None:
        self.accounts = accounts
        self.issuer = issuer
        self.secrets = secrets_
        self.throttle = throttle

    async def create_staff(self, *, username: str, password: str, role: Role, library_id: str) -> str:
        if role not in STAFF_ROLES:
            raise InvalidInput(f"{role} is not a staff role")
        if len(password) < 12:
            raise InvalidInput("staff passwords need at least 12 characters")
        if not await self.accounts.library_exists(library_id):
            raise InvalidInput(f"no library {library_id}")
        account = StaffAccount(new_id(), username.strip().lower(), await self.secrets.hash(password), role, library_id)
        try:
            await self.accounts.add_staff(account)
        except DuplicateEntry:
            raise Conflict(f"user name {username} is taken") from None
        return account.id

    async def create_publisher(self, *, name: str, secret: str, publisher_id: str | None = None) -> str:
        if len(secret) < 24:
            raise InvalidInput("publisher secrets need at least 24 characters")
        account = PublisherAccount(publisher_id or new_id(), name, await self.secrets.hash(secret))
        try:
            await self.accounts.add_publisher(account)
        except DuplicateEntry:
            raise Conflict(f"publisher {account.id} exists") from None
        return account.id

    async def staff_sign_in(self, username: str, password: str, client: str = "unknown") -> TokenPair:
        """Throttled like card sign-in (:class:`Throttle`): counted first, unknown users answered alike."""
        username = username.strip().lower()
        attempt = await self.throttle.admit(f"staff:{username}", client)
        account = await self.accounts.staff_by_username(username)
        if not await self.secrets.matches(account.password_hash if account else None, password):
            raise SignInFailed("user name or password is wrong")
        assert account is not None
        await self.throttle.succeeded(attempt)
        token = self.issuer.issue(
            account.id,
            audience=AUDIENCE,
            roles=[account.role],
            ttl_seconds=ACCESS_TOKEN_SECONDS,
            library_id=account.library_id,
            name=account.username,
        )
        return TokenPair(token, "", ACCESS_TOKEN_SECONDS)

    async def publisher_sign_in(self, publisher_id: str, secret: str, client: str = "unknown") -> TokenPair:
        """Client credentials for the ingest API: the token is scoped to this publisher."""
        attempt = await self.throttle.admit(f"publisher:{publisher_id}", client)
        account = await self.accounts.publisher(publisher_id)
        if not await self.secrets.matches(account.secret_hash if account else None, secret):
            raise SignInFailed("publisher id or secret is wrong")
        await self.throttle.succeeded(attempt)
        token = self.issuer.issue(
            publisher_id,
            audience=AUDIENCE,
            roles=[Role.PUBLISHER],
            ttl_seconds=ACCESS_TOKEN_SECONDS,
            publisher_id=publisher_id,
        )
        return TokenPair(token, "", ACCESS_TOKEN_SECONDS)
