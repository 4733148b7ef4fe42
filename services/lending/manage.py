"""Operator commands for what must exist before anyone can sign in: libraries, the first admin, publishers.

``python -m lending.manage add-library --id daklak --name "Thư viện tỉnh Đắk Lắk" --kind province --code DL``
``python -m lending.manage add-staff --username admin --role province-admin --library daklak`` (password on stdin)
``python -m lending.manage add-publisher --id nxb-tre --name "NXB Trẻ"`` (secret on stdin)
``python -m lending.manage migrate-districts --default-kind commune --kind krongpac=specialised [--dry-run]``
``python -m lending.manage merge-provinces --absorbed phuyen --into daklak``

Reads the same ``LENDING_*`` settings as the service. Secrets come on standard input, never as arguments
(arguments show in the process list and shell history).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from lending.adapters.accounts import mongo_accounts
from lending.adapters.network_store import network_transactions
from lending.adapters.store import LendingStore
from lending.domain.network import CURRENT_KINDS, Library, LibraryKind
from lending.domain.policy import LendingPolicy
from lending.service_layer.cards import Secrets
from lending.service_layer.network_admin import NetworkAdmin
from lending.settings import LendingSettings
from sachso.kit.auth import Role, TokenIssuer
from sachso.kit.errors import Conflict, ServiceError
from sachso.kit.mongo import create_mongo_client
from sachso.kit.outbox import Outbox
from sachso.kit.settings import load_settings

Document = dict[str, Any]


class Management:
    """Lending's operator commands on one database: what ``python -m lending.manage`` runs, and what tools that set
    up a platform (the local seed) call instead of reaching into lending's storage."""

    def __init__(self, client: AsyncMongoClient[Document], database: AsyncDatabase[Document], issuer: str) -> None:
        self.client = client
        self.store = LendingStore(database)
        self.accounts = mongo_accounts(self.store, TokenIssuer.generate(issuer), Secrets())

    async def prepare(self) -> None:
        """The collections' indexes (as the service creates them at start)."""
        await self.store.ensure_indexes()

    async def add_library(self, library: Library, code: str) -> None:
        network = await self.store.network()
        network.with_library(library)  # refuses a library the network cannot hold
        await self.store.add_library(library, code, LendingPolicy())

    async def ensure_library(self, library: Library, code: str) -> bool:
        """:meth:`add_library` unless a library with this id exists; whether it was added."""
        if library.id in await self.store.network():
            return False
        await self.add_library(library, code)
        return True

    async def add_staff(self, *, username: str, password: str, role: Role, library_id: str) -> str:
        return await self.accounts.create_staff(username=username, password=password, role=role, library_id=library_id)

    async def ensure_staff(self, *, username: str, password: str, role: Role, library_id: str) -> bool:
        """:meth:`add_staff` unless the user name is taken; whether the account was added."""
        try:
            await self.add_staff(username=username, password=password, role=role, library_id=library_id)
        except Conflict:
            return False
        return True

    async def add_publisher(self, *, name: str, secret: str, publisher_id: str) -> str:
        return await self.accounts.create_publisher(name=name, secret=secret, publisher_id=publisher_id)

    def network_admin(self) -> NetworkAdmin:
        outbox = Outbox(self.client, self.store.database, source="/sachso/lending")
        return NetworkAdmin(network_transactions(self.store, outbox))


async def run(args: argparse.Namespace, settings: LendingSettings) -> str:
    client = create_mongo_client(settings)
    try:
        management = Management(client, client[settings.mongo_database], settings.issuer)
        await management.prepare()
        if args.command == "add-library":
            library = Library(args.id, args.name, LibraryKind(args.kind), args.parent, args.auto_approve, args.code)
            await management.add_library(library, args.code)
            return f"library {args.id} added"
        if args.command in {"migrate-districts", "merge-provinces"}:
            admin = management.network_admin()
            if args.command == "merge-provinces":
                await admin.merge_provinces(args.absorbed, args.into, by="operator")
                return f"province {args.absorbed} merged into {args.into}"
            kinds = dict(args.kind or [])
            plan = await admin.migrate_districts(
                kinds, LibraryKind(args.default_kind), by="operator", dry_run=args.dry_run
            )
            verb = "would become" if args.dry_run else "is now"
            lines = [f"{library_id} {verb} {kind}" for library_id, kind in plan.items()]
            return "\n".join(lines) or "no district libraries: nothing to migrate"
        secret = sys.stdin.readline().rstrip("\n")
        if args.command == "add-staff":
            await management.add_staff(
                username=args.username, password=secret, role=Role(args.role), library_id=args.library
            )
            return f"staff account {args.username} added"
        await management.add_publisher(name=args.name, secret=secret, publisher_id=args.id)
        return f"publisher {args.id} added"
    finally:
        await client.close()


def _kind_assignment(text: str) -> tuple[str, LibraryKind]:
    library_id, _, kind = text.partition("=")
    if kind not in CURRENT_KINDS:
        raise argparse.ArgumentTypeError(f"{text}: write LIBRARY=KIND with KIND one of {', '.join(CURRENT_KINDS)}")
    return library_id, LibraryKind(kind)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    library = commands.add_parser("add-library")
    library.add_argument("--id", required=True)
    library.add_argument("--name", required=True)
    library.add_argument("--kind", required=True, choices=list(CURRENT_KINDS))
    library.add_argument("--parent")
    library.add_argument("--code", required=True, help="card number prefix, e.g. DL")
    library.add_argument("--auto-approve", action="store_true", help="approve verified card applications at once")
    staff = commands.add_parser("add-staff", help="password on standard input")
    staff.add_argument("--username", required=True)
    staff.add_argument("--role", required=True, choices=["librarian", "library-admin", "province-admin"])
    staff.add_argument("--library", required=True)
    publisher = commands.add_parser("add-publisher", help="secret on standard input")
    publisher.add_argument("--id", required=True)
    publisher.add_argument("--name", required=True)
    migrate = commands.add_parser(
        "migrate-districts",
        help="turn pre-2025 district libraries into current kinds; ids, cards, pools, loans and holds are kept",
    )
    migrate.add_argument("--default-kind", default="commune", choices=[k for k in CURRENT_KINDS if k != "province"])
    migrate.add_argument("--kind", action="append", type=_kind_assignment, metavar="LIBRARY=KIND",
                         help="the kind for one district library (repeatable)")  # fmt: skip
    migrate.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    merge = commands.add_parser("merge-provinces", help="put one province's network below another's provincial library")
    merge.add_argument("--absorbed", required=True)
    merge.add_argument("--into", required=True)
    args = parser.parse_args()
    try:
        print(asyncio.run(run(args, load_settings(LendingSettings))))
    except ServiceError as error:
        print(f"refused: {error.detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
