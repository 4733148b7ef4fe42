"""Staff and publisher accounts on MongoDB (:class:`lending.service_layer.staff.StaffAccounts`)."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from lending.adapters.store import LendingStore
from lending.service_layer.cards import Secrets
from lending.service_layer.staff import Accounts, PublisherAccount, StaffAccount
from lending.service_layer.throttle import SignInThrottle
from lending.service_layer.unit_of_work import DuplicateEntry
from sachso.kit.auth import Role, TokenIssuer


class MongoStaffAccounts:
    def __init__(self, store: LendingStore) -> None:
        self.store = store

    async def library_exists(self, library_id: str) -> bool:
        return await self.store.library_document(library_id) is not None

    async def add_staff(self, account: StaffAccount) -> None:
        try:
            await self.store.staff.insert_one(
                {
                    "_id": account.id,
                    "username": account.username,
                    "password_hash": account.password_hash,
                    "role": account.role.value,
                    "library_id": account.library_id,
                }
            )
        except DuplicateKeyError:
            raise DuplicateEntry(account.username) from None

    async def staff_by_username(self, username: str) -> StaffAccount | None:
        document = await self.store.staff.find_one({"username": username})
        if document is None:
            return None
        return StaffAccount(
            document["_id"], document["username"], document["password_hash"], Role(document["role"]),
            document["library_id"],
        )  # fmt: skip

    async def add_publisher(self, account: PublisherAccount) -> None:
        try:
            await self.store.publishers.insert_one(
                {"_id": account.id, "name": account.name, "secret_hash": account.secret_hash}
            )
        except DuplicateKeyError:
            raise DuplicateEntry(account.id) from None

    async def publisher(self, publisher_id: str) -> PublisherAccount | None:
        document = await self.store.publishers.find_one({"_id": publisher_id})
        return PublisherAccount(document["_id"], document["name"], document["secret_hash"]) if document else None


def mongo_accounts(store: LendingStore, issuer: TokenIssuer, secrets: Secrets) -> Accounts:
    """Staff and publisher accounts on ``store``, their sign-in throttled by its attempt counters."""
    return Accounts(MongoStaffAccounts(store), issuer, secrets, SignInThrottle(store))
