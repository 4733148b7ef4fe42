"""An in-memory fake of staff and publisher accounts (:class:`lending.service_layer.staff.StaffAccounts`)."""

from __future__ import annotations

from lending.service_layer.staff import PublisherAccount, StaffAccount
from lending.service_layer.unit_of_work import DuplicateEntry


class FakeStaffAccounts:
    def __init__(self, libraries: set[str]) -> None:
        self.libraries = libraries
        self.staff: dict[str, StaffAccount] = {}
        self.publishers: dict[str, PublisherAccount] = {}

    async def library_exists(self, library_id: str) -> bool:
        return library_id in self.libraries

    async def add_staff(self, account: StaffAccount) -> None:
        if account.username in self.staff:
            raise DuplicateEntry(account.username)
        self.staff[account.username] = account

    async def staff_by_username(self, username: str) -> StaffAccount | None:
        return self.staff.get(username)

    async def add_publisher(self, account: PublisherAccount) -> None:
        if account.id in self.publishers:
            raise DuplicateEntry(account.id)
        self.publishers[account.id] = account

    async def publisher(self, publisher_id: str) -> PublisherAccount | None:
        return self.publishers.get(publisher_id)
