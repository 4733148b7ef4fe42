"""Staff and publisher accounts, their sign-in, and who may manage which library."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from lending.adapters.store import Document, LendingStore
from lending.domain.network import LibraryNetwork
from lending.domain.stewardship import may_curate_title, title_stewards
from lending.errors import SignInFailed
from lending.service_layer.cards import ACCESS_TOKEN_SECONDS, AUDIENCE, Secrets, TokenPair
from lending.service_layer.clock import new_id
from lending.service_layer.throttle import SignInThrottle
from sachso.kit.auth import Principal, Role, TokenIssuer
from sachso.kit.errors import Conflict, Forbidden, InvalidInput

STAFF_ROLES = (Role.LIBRARIAN, Role.LIBRARY_ADMIN, Role.PROVINCE_ADMIN)


def may_manage(principal: Principal, library_id: str, network: LibraryNetwork) -> bool:
    """A librarian manages her library; a library admin hers and those below it; a province admin all."""
    if Role.PROVINCE_ADMIN in principal.roles:
        return True
    if principal.library_id is None or library_id not in network:
        return False
    if Role.LIBRARY_ADMIN in principal.roles:
        return network.is_within(library_id, principal.library_id)
    return Role.LIBRARIAN in principal.roles and principal.library_id == library_id


def ensure_may_manage(principal: Principal, library_id: str, network: LibraryNetwork) -> None:
    if not may_manage(principal, library_id, network):
        raise Forbidden(f"you do not manage library {library_id}")


def ensure_may_curate_title(principal: Principal, title: Document, network: LibraryNetwork) -> None:
    """Staff change a title's record only if they manage every library holding it (see domain.stewardship)."""
    if Role.PROVINCE_ADMIN in principal.roles:
        return
    stewards = title_stewards(title.get("library_ids", []), title.get("added_by_library_id"))
    if not may_curate_title(stewards, lambda library_id: may_manage(principal, library_id, network)):
        held_by = ", ".join(sorted(stewards)) or "the province"
        raise Forbidden(f"this title is looked after by {held_by}; you do not manage all of them")


class Accounts:
    def __init__(
        self,
        store: LendingStore,
        issuer: TokenIssuer,
        secrets_: Secrets | None = None,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.secrets = secrets_ or Secrets()
        self.throttle = throttle or SignInThrottle(store)

    async def create_staff(self, *, username: str, password: str, role: Role, library_id: str) -> str:
        if role not in STAFF_ROLES:
            raise InvalidInput(f"{role} is not a staff role")
        if len(password) < 12:
            raise InvalidInput("staff passwords need at least 12 characters")
        if await self.store.library_document(library_id) is None:
            raise InvalidInput(f"no library {library_id}")
        staff_id = new_id()
        try:
            await self.store.staff.insert_one(
                {
                    "_id": staff_id,
                    "username": username.strip().lower(),
                    "password_hash": await self.secrets.hash(password),
                    "role": role.value,
                    "library_id": library_id,
                }
            )
        except DuplicateKeyError:
            raise Conflict(f"user name {username} is taken") from None
        return staff_id

    async def create_publisher(self, *, name: str, secret: str, publisher_id: str | None = None) -> str:
        if len(secret) < 24:
            raise InvalidInput("publisher secrets need at least 24 characters")
        publisher_id = publisher_id or new_id()
        try:
            await self.store.publishers.insert_one(
                {"_id": publisher_id, "name": name, "secret_hash": await self.secrets.hash(secret)}
            )
        except DuplicateKeyError:
            raise Conflict(f"publisher {publisher_id} exists") from None
        return publisher_id

    async def staff_sign_in(self, username: str, password: str, client: str = "unknown") -> TokenPair:
        """Throttled like card sign-in (:class:`SignInThrottle`): counted first, unknown users answered alike."""
        username = username.strip().lower()
        attempt = await self.throttle.admit(f"staff:{username}", client)
        document = await self.store.staff.find_one({"username": username})
        if not await self.secrets.matches(document.get("password_hash") if document else None, password):
            raise SignInFailed("user name or password is wrong")
        assert document is not None
        await self.throttle.succeeded(attempt)
        token = self.issuer.issue(
            document["_id"],
            audience=AUDIENCE,
            roles=[Role(document["role"])],
            ttl_seconds=ACCESS_TOKEN_SECONDS,
            library_id=document["library_id"],
            name=document["username"],
        )
        return TokenPair(token, "", ACCESS_TOKEN_SECONDS)

    async def publisher_sign_in(self, publisher_id: str, secret: str, client: str = "unknown") -> TokenPair:
        """Client credentials for the ingest API: the token is scoped to this publisher."""
        attempt = await self.throttle.admit(f"publisher:{publisher_id}", client)
        document = await self.store.publishers.find_one({"_id": publisher_id})
        if not await self.secrets.matches(document.get("secret_hash") if document else None, secret):
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
