"""Seed a running local platform with a living library: the network, staff, a publisher, real books, licences
and patrons, through the same paths the people who run a library use.

``make up`` calls :func:`seed` after the services are ready; ``python deploy/local/local_platform.py seed``
seeds a platform started before. Everything is idempotent: a second run finds what the first made and changes
nothing, so a step that timed out is simply tried again. Waits are on conditions (the catalogue lists the book),
with deadlines that grow with the work (the books' number and size), so a loaded machine is slower, not broken.

- the provincial library and its first administrator are bootstrapped as ``python -m lending.manage`` does
  (nobody can sign in before they exist); everything else goes through the HTTP APIs;
- books from ``../shared/corpus`` go through the reader's ingest API with a publisher token, and the seed waits
  until lending's catalogue lists them (reader → Kafka → lending);
- patrons apply remotely, verify their email with the code lending queued for notify (read from lending's
  outbox, where the email is produced), and are approved by the administrator.

These credentials are for this machine only: the local platform is never exposed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"

Document = dict[str, Any]

# How long ingesting may take: the first EPUB starts EPUBCheck's JVM (compiling its worker once), then each book
# is checked, parsed and stored. Generous on purpose — the deadline only matters when something is stuck.
INGEST_SECONDS = 120.0
INGEST_SECONDS_PER_BOOK = 30.0
INGEST_SECONDS_PER_MB = 20.0
# reader → Kafka → lending: a few seconds per book when the machine is loaded.
CATALOGUE_SECONDS = 60.0
CATALOGUE_SECONDS_PER_BOOK = 10.0
# Answers worth trying again: the service is starting, overloaded or restarting.
RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class SeedTarget:
    """Where the platform to seed answers: the two APIs the seed calls and the database lending bootstraps."""

    lending_url: str
    reader_url: str
    mongo_uri: str
    namespace: str


PROVINCE = "daklak"
PROVINCE_ADMIN = ("admin", "sachso-admin-local")


@dataclass(frozen=True)
class LibrarySeed:
    id: str
    name: str
    kind: str
    code: str
    parent_id: str | None = None


LIBRARIES = (
    LibrarySeed(PROVINCE, "Thư viện tỉnh Đắk Lắk", "province", "DL"),
    LibrarySeed("buon-ma-thuot", "Thư viện phường Buôn Ma Thuột", "commune", "BMT", PROVINCE),
    LibrarySeed("krong-pac", "Thư viện xã Krông Pắc", "commune", "KP", PROVINCE),
    LibrarySeed("thpt-chu-van-an", "Thư viện trường THPT Chu Văn An", "school", "CVA", "buon-ma-thuot"),
)


@dataclass(frozen=True)
class StaffSeed:
    username: str
    password: str
    role: str
    library_id: str


STAFF = (
    StaffSeed("thuthu.daklak", "thuthu-daklak-local", "librarian", PROVINCE),
    StaffSeed("thuthu.bmt", "thuthu-bmt-local-1", "librarian", "buon-ma-thuot"),
    StaffSeed("quanly.krongpac", "quanly-krongpac-local", "library-admin", "krong-pac"),
)

PUBLISHER = ("nxb-tre", "NXB Trẻ", "nxb-tre-local-ingest-secret-0001")


@dataclass(frozen=True)
class BookSeed:
    file: str
    licence: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


def _months(count: int) -> str:
    return (datetime.now(UTC) + timedelta(days=30 * count)).isoformat()


BOOKS = (
    # One copy: the second reader waits in the hold queue.
    BookSeed(
        "epub/debian-installation-guide-vi.epub3.epub",
        {"owner_library_id": PROVINCE, "model": "one-copy-one-user", "concurrency": 1},
        {"subjects": ["Tin học", "Hướng dẫn"]},
    ),
    BookSeed(
        "epub/childrens-literature.epub",
        {"owner_library_id": PROVINCE, "model": "simultaneous-use", "concurrency": None},
        {"subjects": ["Văn học thiếu nhi"]},
    ),
    BookSeed("epub/trees.epub", {"owner_library_id": PROVINCE, "model": "metered", "concurrency": 2, "checkouts": 26}),
    BookSeed(
        "epub/readium-alice3.epub",
        {"owner_library_id": "buon-ma-thuot", "model": "time-limited", "concurrency": 3, "expires_at": _months(24)},
    ),
    BookSeed(
        "epub/kusamakura-japanese-vertical-writing.epub",
        {"owner_library_id": PROVINCE, "model": "odl", "concurrency": 2, "checkouts": 10, "expires_at": _months(12)},
    ),
    BookSeed(
        "epub/regime-anticancer-arabic.epub",
        {"owner_library_id": "krong-pac", "model": "one-copy-one-user", "concurrency": 2, "sharing": "own"},
    ),
    BookSeed(
        "pdf/debian-project-history.en.pdf",
        {"owner_library_id": PROVINCE, "model": "simultaneous-use", "concurrency": None},
    ),
)


@dataclass(frozen=True)
class PatronSeed:
    display_name: str
    email: str
    pin: str
    library_id: str
    language: str = "vi"


PATRONS = (
    PatronSeed("Nguyễn Thị Ánh", "anh.nguyen@example.vn", "1234", PROVINCE),
    PatronSeed("Trần Văn Bình", "binh.tran@example.vn", "2345", "buon-ma-thuot"),
    PatronSeed("H'Linh Niê", "hlinh.nie@example.vn", "3456", "thpt-chu-van-an"),
    PatronSeed("Lê Minh Châu", "chau.le@example.vn", "4567", "krong-pac", "en"),
)


@dataclass
class Seeded:
    """What the seed made (or found): enough to sign in as anyone."""

    staff: list[tuple[str, str, str, str]] = field(default_factory=list)  # username, password, role, library
    publisher: tuple[str, str] = ("", "")
    titles: dict[str, str] = field(default_factory=dict)  # corpus file -> lending title id
    patrons: list[tuple[str, str, str, str]] = field(default_factory=list)  # name, card number, PIN, library

    def summary(self) -> str:
        lines = ["Seed data (local only):", "  staff (username / password / role / library):"]
        lines += [f"    {u} / {p} / {r} / {lib}" for u, p, r, lib in self.staff]
        lines.append(f"  publisher: {self.publisher[0]} / secret {self.publisher[1]}")
        lines.append("  patrons (card number / PIN / library / name):")
        lines += [f"    {card} / {pin} / {lib} / {name}" for name, card, pin, lib in self.patrons]
        lines.append(f"  {len(self.titles)} books in the catalogue, with licences")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "staff": [dict(zip(("username", "password", "role", "library_id"), s, strict=True)) for s in self.staff],
            "publisher": {"id": self.publisher[0], "secret": self.publisher[1]},
            "titles": self.titles,
            "patrons": [
                dict(zip(("display_name", "card_number", "pin", "library_id"), p, strict=True)) for p in self.patrons
            ],
        }


class SeedError(RuntimeError):
    pass


async def _until_answered(
    attempt: Callable[[float], Awaitable[httpx.Response]], *, deadline: float, what: str
) -> httpx.Response:
    """``attempt(seconds_left)`` again after timeouts, lost connections and 502/503/504 (waiting at least what
    ``Retry-After`` asks), until ``deadline`` (a ``time.monotonic()`` value); the last answer otherwise. Only for
    idempotent requests."""
    backoff = 1.0
    while True:
        wait = backoff
        left = deadline - time.monotonic()
        if left <= 0:
            raise SeedError(f"{what}: no answer before the deadline")
        try:
            response = await attempt(left)
        except httpx.TransportError as error:  # timeouts included
            problem = f"{type(error).__name__}: {error}"
        else:
            if response.status_code not in RETRY_STATUSES:
                return response
            problem = f"{response.status_code} {response.text[:200]}"
            wait = max(wait, _retry_after(response))
        if deadline - time.monotonic() <= wait:
            raise SeedError(f"{what}: still failing at the deadline ({problem})")
        print(f"seed: {what}: {problem}; trying again in {wait:g} s", flush=True)
        await asyncio.sleep(wait)
        backoff = min(backoff * 2, 10.0)


async def _signed_in(lending: httpx.AsyncClient, path: str, body: dict[str, str]) -> Any:
    """A token, asked again while lending's database is too busy to answer (503 on a loaded machine): a new
    token each time, nothing else changes."""
    response = await _until_answered(
        lambda left: lending.post(path, json=body, timeout=min(left, 30.0)),
        deadline=time.monotonic() + SIGN_IN_SECONDS, what=f"signing in at {path}",
    )  # fmt: skip
    return _check(response)


def _retry_after(response: httpx.Response) -> float:
    """The seconds a 503 asks the caller to wait (``Retry-After`` in seconds; EPUBCheck busy says 30), else 0."""
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else 0.0


SIGN_IN_SECONDS = 120.0


def _check(response: httpx.Response, *ok: int) -> Any:
    if response.status_code not in (ok or (200, 201)):
        request = response.request
        raise SeedError(f"{request.method} {request.url.path}: {response.status_code} {response.text}")
    return response.json() if response.content else None


class Seeder:
    def __init__(self, target: SeedTarget, books: tuple[BookSeed, ...] = BOOKS) -> None:
        self.books = books
        self.lending_url = target.lending_url
        self.reader_url = target.reader_url
        self.mongo: AsyncMongoClient[Document] = AsyncMongoClient(target.mongo_uri, retryWrites=False, tz_aware=True)
        self.lending_db = self.mongo[f"{target.namespace}_lending"]
        self.result = Seeded()

    async def run(self) -> Seeded:
        try:
            async with (
                httpx.AsyncClient(base_url=self.lending_url, timeout=60) as lending,
                httpx.AsyncClient(base_url=self.reader_url, timeout=60) as reader,
            ):
                await self.bootstrap()
                admin = await self.staff_token(lending, *PROVINCE_ADMIN)
                await self.network(lending, admin)
                await self.staff(lending, admin)
                await self.publisher(lending, admin)
                publications = await self.ingest(lending, reader)
                await self.catalogue(lending, publications)
                await self.licences(lending, admin)
                await self.patrons(lending, admin)
        finally:
            await self.mongo.close()
        return self.result

    async def bootstrap(self) -> None:
        """The provincial library and its administrator, through lending's management commands (what
        ``python -m lending.manage add-library`` and ``add-staff`` run)."""
        from lending.domain.network import Library, LibraryKind
        from lending.manage import Management
        from sachso.kit.auth import Role

        management = Management(self.mongo, self.lending_db, issuer="seed")
        province = LIBRARIES[0]
        library = Library(province.id, province.name, LibraryKind(province.kind), None, False)
        await management.ensure_library(library, province.code)
        await management.ensure_staff(
            username=PROVINCE_ADMIN[0], password=PROVINCE_ADMIN[1], role=Role.PROVINCE_ADMIN, library_id=PROVINCE
        )
        self.result.staff.append((*PROVINCE_ADMIN, "province-admin", PROVINCE))

    async def staff_token(self, lending: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
        body = await _signed_in(lending, "/v1/auth/staff-token", {"username": username, "password": password})
        return {"Authorization": f"Bearer {body['access_token']}"}

    async def network(self, lending: httpx.AsyncClient, admin: dict[str, str]) -> None:
        known = {library["id"] for library in _check(await lending.get("/v1/libraries"))}
        for library in LIBRARIES:
            if library.id in known:
                continue
            body = {"id": library.id, "name": library.name, "kind": library.kind, "code": library.code}
            _check(await lending.post("/v1/libraries", json=body | {"parent_id": library.parent_id}, headers=admin))

    async def staff(self, lending: httpx.AsyncClient, admin: dict[str, str]) -> None:
        for member in STAFF:
            body = {"username": member.username, "password": member.password, "role": member.role}
            response = await lending.post("/v1/staff", json=body | {"library_id": member.library_id}, headers=admin)
            _check(response, 201, 409)
            self.result.staff.append((member.username, member.password, member.role, member.library_id))

    async def publisher(self, lending: httpx.AsyncClient, admin: dict[str, str]) -> None:
        publisher_id, name, secret = PUBLISHER
        body = {"id": publisher_id, "name": name, "secret": secret}
        _check(await lending.post("/v1/publishers", json=body, headers=admin), 201, 409)
        self.result.publisher = (publisher_id, secret)

    async def ingest(self, lending: httpx.AsyncClient, reader: httpx.AsyncClient) -> dict[str, str]:
        """Each book through the ingest API; the same book again is recognised, not duplicated, so an upload
        that timed out is sent again until the deadline, which grows with the books' number and size."""
        publisher_id, _, secret = PUBLISHER
        token = (await _signed_in(lending, "/v1/auth/publisher-token",
                                  {"publisher_id": publisher_id, "secret": secret}))["access_token"]  # fmt: skip
        megabytes = sum((CORPUS / book.file).stat().st_size for book in self.books) / 1e6
        within = INGEST_SECONDS + INGEST_SECONDS_PER_BOOK * len(self.books) + INGEST_SECONDS_PER_MB * megabytes
        deadline = time.monotonic() + within
        publications = {}
        for book in self.books:
            path = CORPUS / book.file

            async def upload(seconds_left: float, path: Path = path, book: BookSeed = book) -> httpx.Response:
                with path.open("rb") as file:
                    return await reader.post(
                        "/v1/publications",
                        files={"file": (path.name, file, "application/octet-stream")},
                        data={"metadata": json.dumps(book.metadata, ensure_ascii=False)},
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=httpx.Timeout(seconds_left, connect=10),
                    )

            response = await _until_answered(upload, deadline=deadline, what=f"uploading {book.file}")
            publications[book.file] = _check(response, 200, 201)["id"]
        return publications

    async def catalogue(self, lending: httpx.AsyncClient, publications: dict[str, str]) -> None:
        """Wait until lending has heard of every ingested book (reader → Kafka → lending)."""
        within = CATALOGUE_SECONDS + CATALOGUE_SECONDS_PER_BOOK * len(publications)
        deadline = time.monotonic() + within
        while True:
            found: dict[str, str] = {}
            page = 1
            while True:
                params = {"size": 100, "page": page}

                async def titles(seconds_left: float, params: dict[str, int] = params) -> httpx.Response:
                    return await lending.get("/v1/titles", params=params, timeout=min(seconds_left, 60))

                body = _check(await _until_answered(titles, deadline=deadline, what="reading the catalogue"))
                found |= {item["publication_id"]: item["id"] for item in body["items"] if item["publication_id"]}
                if page * 100 >= body["total"]:
                    break
                page += 1
            missing = [file for file, publication in publications.items() if publication not in found]
            if not missing:
                self.result.titles = {file: found[publication] for file, publication in publications.items()}
                return
            if time.monotonic() > deadline:
                raise SeedError(f"not in lending's catalogue after {within:.0f} s: {', '.join(missing)}")
            await asyncio.sleep(0.5)

    async def licences(self, lending: httpx.AsyncClient, admin: dict[str, str]) -> None:
        for book in self.books:
            title_id = self.result.titles[book.file]
            if await self.lending_db["licenses"].count_documents({"title_id": title_id}) > 0:
                continue
            _check(await lending.post(f"/v1/titles/{title_id}/licenses", json=book.licence, headers=admin))

    async def verification_code(self, patron_id: str, within: float = 10) -> str:
        """The code lending queued for the verification email (notify sends it; the outbox has it first)."""
        from sachso.events.v1 import lending_events_pb2

        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            cursor = self.lending_db["outbox"].find({"type": "sachso.events.v1.EmailVerificationRequested"})
            async for document in cursor.sort("_id", -1):
                event = lending_events_pb2.EmailVerificationRequested()
                event.ParseFromString(bytes(document["data"]))
                if event.patron_id == patron_id:
                    return event.code
            await asyncio.sleep(0.2)
        raise SeedError(f"no verification code for {patron_id}")

    async def patrons(self, lending: httpx.AsyncClient, admin: dict[str, str]) -> None:
        for patron in PATRONS:
            existing = await self.lending_db["patrons"].find_one(
                {"email_key": f"{patron.library_id}:{patron.email}", "card_number": {"$ne": None}}
            )
            if existing is None:
                application = _check(
                    await lending.post(
                        "/v1/card-applications",
                        json={
                            "library_id": patron.library_id,
                            "display_name": patron.display_name,
                            "email": patron.email,
                            "pin": patron.pin,
                            "preferred_language": patron.language,
                        },
                    )
                )
                patron_id = application["application_id"]
                code = await self.verification_code(patron_id)
                _check(await lending.post(f"/v1/card-applications/{patron_id}/verify", json={"code": code}))
                approve = f"/v1/libraries/{patron.library_id}/card-applications/{patron_id}/approve"
                card_number = _check(await lending.post(approve, headers=admin))["card_number"]
            else:
                card_number = existing["card_number"]
            self.result.patrons.append((patron.display_name, card_number, patron.pin, patron.library_id))


def seed(target: SeedTarget, books: tuple[BookSeed, ...] = BOOKS) -> Seeded:
    """Seed the platform at ``target`` (already started) with ``books`` and say what to sign in with."""
    return asyncio.run(Seeder(target, books).run())
