"""Lending's MongoDB collections, their indexes, and the translation to and from domain objects.

Every write that must never over-lend is a *conditional* update on one licence document
(``in_use < concurrency``, ``checkouts_left > 0``), executed inside the caller's transaction: MongoDB applies it
atomically, and two transactions touching the same licence conflict and one is retried.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from cachetools import TTLCache
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from lending.adapters.network_documents import group_from
from lending.domain.holds import OPEN_STATES, Hold, HoldState
from lending.domain.licensing import License, LicenseModel, LicenseTerms
from lending.domain.network import Library, LibraryKind, LibraryNetwork, Sharing
from lending.domain.patrons import CardStatus, Patron, Verification
from lending.domain.policy import LendingPolicy
from lending.domain.titles import STAFF_RECORD_PREFIX

Document = dict[str, Any]
RECENT_PATRON_SECONDS = 2.0
# a title document without its search indexes (the record's words, a scanned document's full text)
TITLE_FIELDS = {"search_terms": 0, "fulltext_terms": 0}
Session = AsyncClientSession | None


def utc(moment: datetime | None) -> datetime | None:
    """MongoDB keeps UTC; make what comes back aware whatever the client's tz_aware setting."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class LendingStore:
    def __init__(self, database: AsyncDatabase[Document], *, library_cache_seconds: float = 10.0) -> None:
        self.database = database
        # The network and lending policies change rarely and are read by every checkout: keep a snapshot for a
        # few seconds (another replica's change is seen within ``library_cache_seconds``).
        self.library_cache_seconds = library_cache_seconds
        self._libraries_snapshot: tuple[float, LibraryNetwork, dict[str, LendingPolicy]] | None = None
        # The patron documents the card check (CardAccess) read for each request in the last moments: a checkout
        # takes its borrower from here instead of reading her again (see ``recent_patron``).
        self._recent_patrons: TTLCache[str, Document] = TTLCache(maxsize=100_000, ttl=RECENT_PATRON_SECONDS)
        self.libraries = database["libraries"]
        self.counters = database["counters"]
        self.patrons = database["patrons"]
        self.staff = database["staff"]
        self.publishers = database["publishers"]
        self.titles = database["titles"]
        self.licenses = database["licenses"]
        self.loans = database["loans"]
        self.holds = database["holds"]
        self.refresh_tokens = database["refresh_tokens"]
        self.turnaways = database["turnaways"]  # a patron wanted a copy and none was free (for reports)
        self.idempotency_keys = database["idempotency_keys"]  # what a keyed request did (kept a day)
        self.rate_counters = database["rate_counters"]  # throttling counters, one per key and fixed window
        self.sign_in_clients = database["sign_in_clients"]  # clients a credential signed in from recently

    async def ensure_indexes(self) -> None:
        await self.patrons.create_index("card_number", unique=True, sparse=True)
        await self.patrons.create_index("ils_card", unique=True, sparse=True)  # one patron per ILS card
        # one live application or card per email per library; rejected ones drop the key
        await self.patrons.create_index("email_key", unique=True, sparse=True)
        await self.patrons.create_index([("library_id", ASCENDING), ("status", ASCENDING)])
        await self.staff.create_index("username", unique=True)
        await self.titles.create_index("publication_id", unique=True, sparse=True)
        await self.titles.create_index("search_terms")
        await self.titles.create_index("isbn", sparse=True)
        await self.titles.create_index("ils_control_numbers", sparse=True)  # MARC imports match records by it
        await self.titles.create_index("changed_at", sparse=True)  # OAI-PMH and MARC deltas select by it
        await self.licenses.create_index("title_id")
        await self.loans.create_index("active_key", unique=True, sparse=True)  # one active loan per patron+title
        await self.loans.create_index("odl_key", unique=True, sparse=True)  # one loan per partner checkout (ODL)
        await self.loans.create_index([("patron_id", ASCENDING), ("status", ASCENDING)])
        await self.loans.create_index([("status", ASCENDING), ("due_at", ASCENDING)])
        await self.loans.create_index([("title_id", ASCENDING), ("status", ASCENDING)])
        await self.holds.create_index("open_key", unique=True, sparse=True)  # one open hold per patron+title
        await self.holds.create_index([("title_id", ASCENDING), ("state", ASCENDING), ("placed_at", ASCENDING)])
        await self.holds.create_index([("state", ASCENDING), ("ready_until", ASCENDING)])
        await self.holds.create_index("patron_id")
        await self.refresh_tokens.create_index("expires_at", expireAfterSeconds=0)
        await self.refresh_tokens.create_index("patron_id")
        await self.loans.create_index([("library_id", ASCENDING), ("starts_at", ASCENDING)])
        await self.holds.create_index([("patron_library_id", ASCENDING), ("placed_at", ASCENDING)])
        await self.turnaways.create_index([("library_id", ASCENDING), ("at", ASCENDING)])
        await self.rate_counters.create_index("expires_at", expireAfterSeconds=0)
        await self.idempotency_keys.create_index("expires_at", expireAfterSeconds=0)
        await self.sign_in_clients.create_index("expires_at", expireAfterSeconds=0)

    # -- libraries -------------------------------------------------------------------------------------------

    async def _libraries(self) -> tuple[LibraryNetwork, dict[str, LendingPolicy]]:
        now = time.monotonic()
        if self._libraries_snapshot is None or now - self._libraries_snapshot[0] > self.library_cache_seconds:
            documents = [document async for document in self.libraries.find({})]
            groups = [group_from(document) async for document in self.database["library_groups"].find({})]
            network = LibraryNetwork([library_from(document) for document in documents], groups)
            policies = {d["_id"]: _policy(d["policy"]) for d in documents if d.get("policy")}
            self._libraries_snapshot = (now, network, policies)
        return self._libraries_snapshot[1], self._libraries_snapshot[2]

    async def network(self) -> LibraryNetwork:
        return (await self._libraries())[0]

    def forget_network(self) -> None:
        """The network changed in this process: read it afresh next time (other replicas within the cache time)."""
        self._libraries_snapshot = None

    async def policy(self, library_id: str) -> LendingPolicy:
        return (await self._libraries())[1].get(library_id, LendingPolicy())

    async def add_library(self, library: Library, code: str, policy: LendingPolicy, session: Session = None) -> None:
        await self.libraries.insert_one(
            {
                "_id": library.id,
                "name": library.name,
                "kind": library.kind.value,
                "parent_id": library.parent_id,
                "code": code,
                "auto_approve_cards": library.auto_approve_cards,
                "policy": _policy_document(policy),
            },
            session=session,
        )
        self._libraries_snapshot = None

    async def set_policy(self, library_id: str, policy: LendingPolicy) -> None:
        await self.libraries.update_one({"_id": library_id}, {"$set": {"policy": _policy_document(policy)}})
        self._libraries_snapshot = None

    async def library_document(self, library_id: str, session: Session = None) -> Document | None:
        return await self.libraries.find_one({"_id": library_id}, session=session)

    async def next_card_sequence(self, library_id: str, session: Session) -> int:
        counter = await self.counters.find_one_and_update(
            {"_id": f"card:{library_id}"},
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        assert counter is not None  # upserted
        return int(counter["value"])

    # -- patrons ---------------------------------------------------------------------------------------------

    async def patron_document(self, patron_id: str, session: Session = None) -> Document | None:
        return await self.patrons.find_one({"_id": patron_id}, session=session)

    async def patron(self, patron_id: str, session: Session = None) -> Patron | None:
        document = await self.patron_document(patron_id, session)
        return patron_from(document) if document else None

    async def set_pin_hash(self, patron_id: str, pin_hash: str, session: Session = None) -> None:
        await self.patrons.update_one(
            {"_id": patron_id},
            {"$set": {"pin_hash": pin_hash, "failed_sign_ins": 0, "locked_until": None}},
            session=session,
        )

    # -- idempotent requests ---------------------------------------------------------------------------------

    async def idempotent_result(self, key_id: str, session: Session = None) -> Document | None:
        return await self.idempotency_keys.find_one({"_id": key_id}, session=session)

    async def record_idempotent_result(
        self, key_id: str, fingerprint: str, result_id: str, expires_at: datetime, session: Session
    ) -> None:
        """Recorded in the same transaction as the result, so a key names a result only if it exists."""
        await self.idempotency_keys.insert_one(
            {"_id": key_id, "fingerprint": fingerprint, "result_id": result_id, "expires_at": expires_at},
            session=session,
        )

    async def loan_document(self, loan_id: str, session: Session = None) -> Document | None:
        return await self.loans.find_one({"_id": loan_id}, session=session)

    # -- titles ----------------------------------------------------------------------------------------------

    async def set_title_added_by(self, title_id: str, library_id: str, session: Session = None) -> None:
        """The library whose staff added a title by hand (it looks after the record until others license it)."""
        await self.titles.update_one({"_id": title_id}, {"$set": {"added_by_library_id": library_id}}, session=session)

    async def unreadable_title_with_isbn(self, isbn: str, session: Session = None) -> Document | None:
        """A record staff typed in (no file yet) with this ISBN: the publication ingested for it adopts it."""
        return await self.titles.find_one(
            {"isbn": isbn, "publication_id": {"$regex": f"^{STAFF_RECORD_PREFIX}"}, "readable": {"$ne": True}},
            session=session,
        )

    async def title_reading(self, title_id: str) -> tuple[bool, bool]:
        """Whether the title is read online only, and whether it is a scanned local document (read through IIIF)."""
        title = await self.titles.find_one({"_id": title_id}, {"online_only": 1, "local_document": 1}) or {}
        return bool(title.get("online_only")), bool(title.get("local_document"))

    # -- rate limits and sign-in throttling ------------------------------------------------------------------

    async def count_attempt(self, key: str, window_end: datetime) -> int:
        """Count one more attempt on ``key`` (atomic: concurrent attempts get distinct counts); the new count."""
        # Creating the counter and counting on it are separate steps: an upsert that races another one may fail or
        # answer nothing after it applied, and retrying it would count one attempt twice. The increment below only
        # ever runs on an existing counter, so when it answers nothing it did not apply and may be tried again.
        for _ in range(5):
            counter = await self.rate_counters.find_one_and_update(
                {"_id": key}, {"$inc": {"count": 1}}, return_document=ReturnDocument.AFTER
            )
            if counter is not None:
                return int(counter["count"])
            with contextlib.suppress(DuplicateKeyError):  # a concurrent first attempt created it: fine
                await self.rate_counters.update_one(
                    {"_id": key}, {"$setOnInsert": {"count": 0, "expires_at": window_end}}, upsert=True
                )
        raise RuntimeError(f"could not count attempt {key}")

    async def uncount_attempt(self, key: str) -> None:
        await self.rate_counters.update_one({"_id": key, "count": {"$gt": 0}}, {"$inc": {"count": -1}})

    async def reset_attempts(self, key: str) -> None:
        await self.rate_counters.update_one({"_id": key}, {"$set": {"count": 0}})

    async def is_known_sign_in_client(self, credential: str, client: str) -> bool:
        return await self.sign_in_clients.find_one({"_id": f"{credential}|{client}"}, {"_id": 1}) is not None

    async def remember_sign_in_client(self, credential: str, client: str, until: datetime) -> None:
        await self.sign_in_clients.update_one(
            {"_id": f"{credential}|{client}"}, {"$set": {"expires_at": until}}, upsert=True
        )

    async def set_card_status(
        self, patron_id: str, expected: CardStatus, status: CardStatus, session: Session = None
    ) -> Document | None:
        """Move a card from ``expected`` to ``status``; the card as it was, or None when it was not ``expected``."""
        return await self.patrons.find_one_and_update(
            {"_id": patron_id, "status": expected.value},
            {"$set": {"status": status.value, "status_changed_at": datetime.now(UTC)}},
            session=session,
        )

    async def card_status(self, patron_id: str) -> CardStatus | None:
        """Her card's status, read now (the whole document is kept a moment for ``recent_patron``)."""
        document = await self.patrons.find_one({"_id": patron_id})
        if document is None:
            return None
        self._recent_patrons[patron_id] = document
        return CardStatus(document["status"])

    async def recent_patron(self, patron_id: str, session: Session = None) -> Patron | None:
        """The patron as her request's card check read her at most ``RECENT_PATRON_SECONDS`` ago (the card
        check itself remembers a status that long), else read now."""
        document = self._recent_patrons.get(patron_id)
        if document is None:
            return await self.patron(patron_id, session)
        return patron_from(document)

    async def forget_refresh_tokens(self, patron_id: str, session: Session = None) -> None:
        await self.refresh_tokens.delete_many({"patron_id": patron_id}, session=session)

    async def set_holds_card_blocked(self, patron_id: str, blocked: bool, session: Session = None) -> None:
        await self.holds.update_many(
            {"patron_id": patron_id, "state": HoldState.WAITING.value},
            {"$set": {"card_blocked": blocked}},
            session=session,
        )

    async def active_loan_documents(self, patron_id: str, session: Session = None) -> list[Document]:
        return [doc async for doc in self.loans.find({"patron_id": patron_id, "status": "active"}, session=session)]

    async def ready_holds(self, patron_id: str, session: Session = None) -> list[Hold]:
        cursor = self.holds.find({"patron_id": patron_id, "state": HoldState.READY.value}, session=session)
        return [hold_from(document) async for document in cursor]

    # -- licences --------------------------------------------------------------------------------------------

    async def licenses_for(self, title_id: str, session: Session = None) -> list[License]:
        return [
            license_from(document) async for document in self.licenses.find({"title_id": title_id}, session=session)
        ]

    async def license(self, license_id: str, session: Session = None) -> License | None:
        document = await self.licenses.find_one({"_id": license_id}, session=session)
        return license_from(document) if document else None

    async def add_license(self, license_: License, session: Session = None) -> None:
        await self.licenses.insert_one(license_document(license_), session=session)

    async def take_copy(self, license_: License, session: Session) -> bool:
        """Count one more reader on ``license_`` if its terms still allow it (atomic, the over-lending guard)."""
        query: Document = {"_id": license_.id}
        change: Document = {"in_use": 1}
        if license_.terms.concurrency is not None:
            query["in_use"] = {"$lt": license_.terms.concurrency}
        if license_.checkouts_left is not None:
            query["checkouts_left"] = {"$gt": 0}
            change["checkouts_left"] = -1
        result = await self.licenses.update_one(query, {"$inc": change}, session=session)
        return result.modified_count == 1

    async def give_back_copy(self, license_id: str, session: Session) -> None:
        await self.licenses.update_one(
            {"_id": license_id, "in_use": {"$gt": 0}}, {"$inc": {"in_use": -1}}, session=session
        )

    async def consume_checkout(self, license_id: str, session: Session) -> bool:
        """Use one checkout of a metered licence whose copy stays in use (it passes to the next hold)."""
        result = await self.licenses.update_one(
            {"_id": license_id, "checkouts_left": {"$gt": 0}}, {"$inc": {"checkouts_left": -1}}, session=session
        )
        return result.modified_count == 1

    async def refund_checkout(self, license_id: str, session: Session) -> None:
        """Give back the checkout of a reserved copy nobody borrowed (metered licences only)."""
        await self.licenses.update_one(
            {"_id": license_id, "checkouts_left": {"$ne": None}}, {"$inc": {"checkouts_left": 1}}, session=session
        )

    # -- holds -----------------------------------------------------------------------------------------------

    async def open_holds(self, title_id: str, session: Session = None) -> list[Hold]:
        cursor = self.holds.find(
            {"title_id": title_id, "state": {"$in": [state.value for state in OPEN_STATES]}}, session=session
        )
        return [hold_from(document) async for document in cursor]

    async def insert_hold(self, hold: Hold, session: Session) -> None:
        await self.holds.insert_one(hold_document(hold), session=session)

    async def update_hold(self, hold_id: str, expected: HoldState, changes: Document, session: Session) -> bool:
        """Change a hold only if it is still in ``expected`` state (two workers never both act on it)."""
        state = changes.get("state", expected.value)
        unset = {} if state in {s.value for s in OPEN_STATES} else {"open_key": ""}
        update: Document = {"$set": changes}
        if unset:
            update["$unset"] = unset
        result = await self.holds.update_one({"_id": hold_id, "state": expected.value}, update, session=session)
        return result.modified_count == 1


def library_from(document: Document) -> Library:
    return Library(
        id=document["_id"],
        name=document["name"],
        kind=LibraryKind(document["kind"]),
        parent_id=document.get("parent_id"),
        auto_approve_cards=bool(document.get("auto_approve_cards")),
        code=document.get("code", ""),
    )


def _policy_document(policy: LendingPolicy) -> Document:
    return {
        "loan_period_seconds": [int(period.total_seconds()) for period in policy.loan_periods],
        "max_loans": policy.max_loans,
        "max_holds": policy.max_holds,
        "max_renewals": policy.max_renewals,
        "hold_window_seconds": int(policy.hold_window.total_seconds()),
        "card_validity_seconds": int(policy.card_validity.total_seconds()),
    }


def _policy(document: Document) -> LendingPolicy:
    return LendingPolicy(
        loan_periods=tuple(timedelta(seconds=seconds) for seconds in document["loan_period_seconds"]),
        max_loans=document["max_loans"],
        max_holds=document["max_holds"],
        max_renewals=document["max_renewals"],
        hold_window=timedelta(seconds=document["hold_window_seconds"]),
        card_validity=timedelta(seconds=document["card_validity_seconds"]),
    )


def patron_from(document: Document) -> Patron:
    return Patron(
        id=document["_id"],
        library_id=document["library_id"],
        display_name=document["display_name"],
        email=document["email"],
        preferred_language=document.get("preferred_language", "vi"),
        status=CardStatus(document["status"]),
        card_number=document.get("card_number"),
        card_expires_at=utc(document.get("card_expires_at")),
        time_zone=document.get("time_zone", "Asia/Ho_Chi_Minh"),
    )


def verification_from(document: Document) -> Verification | None:
    raw = document.get("verification")
    if not raw:
        return None
    expires_at = utc(raw["expires_at"])
    assert expires_at is not None
    return Verification(code_hash=raw["code_hash"], expires_at=expires_at, attempts=raw.get("attempts", 0))


def license_document(license_: License) -> Document:
    return {
        "_id": license_.id,
        "title_id": license_.title_id,
        "owner_id": license_.owner_id,
        "sharing": license_.sharing.value,
        "terms": {
            "model": license_.terms.model.value,
            "concurrency": license_.terms.concurrency,
            "checkouts": license_.terms.checkouts,
            "expires_at": license_.terms.expires_at,
        },
        "acquired_at": license_.acquired_at,
        "in_use": license_.in_use,
        "checkouts_left": license_.checkouts_left,
        "group_id": license_.group_id,
    }


def license_from(document: Document) -> License:
    terms = document["terms"]
    acquired_at = utc(document["acquired_at"])
    assert acquired_at is not None
    return License(
        id=document["_id"],
        title_id=document["title_id"],
        owner_id=document["owner_id"],
        sharing=Sharing(document["sharing"]),
        terms=LicenseTerms(
            model=LicenseModel(terms["model"]),
            concurrency=terms.get("concurrency"),
            checkouts=terms.get("checkouts"),
            expires_at=utc(terms.get("expires_at")),
        ),
        acquired_at=acquired_at,
        in_use=document.get("in_use", 0),
        checkouts_left=document.get("checkouts_left"),
        group_id=document.get("group_id"),
    )


def hold_document(hold: Hold) -> Document:
    document: Document = {
        "_id": hold.id,
        "patron_id": hold.patron_id,
        "patron_library_id": hold.patron_library_id,
        "title_id": hold.title_id,
        "placed_at": hold.placed_at,
        "state": hold.state.value,
        "auto_checkout": hold.auto_checkout,
        "suspended_until": hold.suspended_until,
        "ready_until": hold.ready_until,
        "license_id": hold.license_id,
        "card_blocked": hold.card_blocked,
    }
    if hold.state in OPEN_STATES:
        document["open_key"] = f"{hold.patron_id}:{hold.title_id}"
    return document


def hold_from(document: Document) -> Hold:
    placed_at = utc(document["placed_at"])
    assert placed_at is not None
    return Hold(
        id=document["_id"],
        patron_id=document["patron_id"],
        patron_library_id=document["patron_library_id"],
        title_id=document["title_id"],
        placed_at=placed_at,
        state=HoldState(document["state"]),
        auto_checkout=bool(document.get("auto_checkout")),
        suspended_until=utc(document.get("suspended_until")),
        ready_until=utc(document.get("ready_until")),
        license_id=document.get("license_id"),
        card_blocked=bool(document.get("card_blocked")),
    )
