"""Notify's own read models, built from events so it never asks another service: patrons (how to reach them
and what they chose), titles (what a book is called), loans (whose loan a licence served) and bounced
addresses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time
from time import monotonic
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from notify.domain.deliveries import email_key
from notify.domain.loans import LoanRecord
from notify.domain.notices import Channel, Language, NoticeKind, Recipient
from notify.domain.preferences import DEFAULT_TIME_ZONE, Preferences, QuietHours

Document = dict[str, Any]
Session = AsyncClientSession | None
TITLE_CACHE_SIZE = 10_000


def utc(moment: datetime | None) -> datetime | None:
    """MongoDB keeps UTC; make what comes back aware whatever the client's tz_aware setting."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def preferences_document(preferences: Preferences) -> Document:
    quiet = preferences.quiet_hours
    return {
        "time_zone": preferences.time_zone,
        "quiet_hours": {"start": quiet.start.strftime("%H:%M"), "end": quiet.end.strftime("%H:%M")} if quiet else None,
        "channels": {kind.value: sorted(channels) for kind, channels in preferences.channels.items()},
        "language": preferences.language.value if preferences.language else None,
    }


def preferences_from(document: Mapping[str, Any] | None, default_time_zone: str = DEFAULT_TIME_ZONE) -> Preferences:
    if not document:
        return Preferences(time_zone=default_time_zone)
    quiet = document.get("quiet_hours")
    return Preferences(
        time_zone=document.get("time_zone") or default_time_zone,
        quiet_hours=QuietHours(time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"])) if quiet else None,
        channels={
            NoticeKind(kind): frozenset(Channel(channel) for channel in channels)
            for kind, channels in (document.get("channels") or {}).items()
            if kind in NoticeKind._value2member_map_
        },
        language=Language(document["language"]) if document.get("language") else None,
    )


def recipient_and_preferences(
    patron_id: str, document: Mapping[str, Any] | None, default_time_zone: str
) -> tuple[Recipient, Preferences]:
    """A patron's document read as how to reach her and what she chose (defaults when there is none)."""
    if document is None:
        return Recipient(patron_id), Preferences(time_zone=default_time_zone)
    recipient = Recipient(
        patron_id=patron_id,
        display_name=document.get("display_name", ""),
        email=document.get("email", ""),
        language=Language.parse(document.get("language")),
    )
    return recipient, preferences_from(document.get("preferences"), default_time_zone)


class MongoProjections:
    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        default_time_zone: str = DEFAULT_TIME_ZONE,
        title_cache_seconds: float = 30.0,
    ) -> None:
        self.default_time_zone = default_time_zone
        # Title names change rarely and a burst of holds names the same few titles: keep them briefly (another
        # replica's rename shows within ``title_cache_seconds``).
        self.title_cache_seconds = title_cache_seconds
        self._title_cache: dict[str, tuple[float, str]] = {}
        self.patrons = database["patrons"]
        self.titles = database["titles"]
        self.loans = database["loans"]
        self.bounces = database["bounces"]

    async def ensure_indexes(self) -> None:
        await self.loans.create_index("patron_id")

    # -- patrons -----------------------------------------------------------------------------------------------

    async def record_patron(
        self,
        patron_id: str,
        *,
        display_name: str,
        email: str,
        language: str,
        session: Session,
        **extra: Any,
    ) -> None:
        """What the latest patron event says about her (events of one patron arrive in order)."""
        # an event that names no language leaves hers as it was (parsing "" would say Vietnamese)
        spoken = Language.parse(language).value if language else ""
        fields = {"display_name": display_name, "email": email, "language": spoken, **extra}
        await self.patrons.update_one(
            {"_id": patron_id},
            {"$set": {name: value for name, value in fields.items() if value}},
            upsert=True,
            session=session,
        )

    async def patron(self, patron_id: str, session: Session = None) -> tuple[Recipient, Preferences]:
        """How to reach the patron and what she chose; defaults when notify has not heard of her."""
        document = await self.patrons.find_one({"_id": patron_id}, session=session)
        return recipient_and_preferences(patron_id, document, self.default_time_zone)

    async def save_preferences(self, patron_id: str, preferences: Preferences) -> None:
        await self.patrons.update_one(
            {"_id": patron_id}, {"$set": {"preferences": preferences_document(preferences)}}, upsert=True
        )

    # -- titles and loans --------------------------------------------------------------------------------------

    async def record_title(self, title_id: str, title: str, authors: Iterable[str], session: Session) -> None:
        self._title_cache.pop(title_id, None)
        await self.titles.update_one(
            {"_id": title_id}, {"$set": {"title": title, "authors": list(authors)}}, upsert=True, session=session
        )

    async def title(self, title_id: str, session: Session = None) -> str | None:
        cached = self._title_cache.get(title_id)
        if cached and monotonic() - cached[0] < self.title_cache_seconds:
            return cached[1]
        document = await self.titles.find_one({"_id": title_id}, {"title": 1}, session=session)
        if not document or not document.get("title"):
            return None
        if len(self._title_cache) >= TITLE_CACHE_SIZE:
            self._title_cache.clear()
        self._title_cache[title_id] = (monotonic(), str(document["title"]))
        return str(document["title"])

    async def read_titles_ahead(self, title_ids: Iterable[str], session: Session = None) -> None:
        """Bring the names of ``title_ids`` not cached into the cache with one query (a batch of events)."""
        now = monotonic()
        missing = sorted(
            {t for t in title_ids if not ((c := self._title_cache.get(t)) and now - c[0] < self.title_cache_seconds)}
        )
        if not missing:
            return
        if len(self._title_cache) + len(missing) >= TITLE_CACHE_SIZE:
            self._title_cache.clear()
        async for document in self.titles.find({"_id": {"$in": missing}}, {"title": 1}, session=session):
            if document.get("title"):
                self._title_cache[document["_id"]] = (now, str(document["title"]))

    async def record_loan(
        self, loan_id: str, patron_id: str, title_id: str, due_at: datetime, session: Session
    ) -> Document | None:
        """Remember the loan; return a revocation that arrived before it (see :meth:`park_revocation`)."""
        before = await self.loans.find_one_and_update(
            {"_id": loan_id},
            {
                "$set": {"patron_id": patron_id, "title_id": title_id, "due_at": due_at, "ended": False},
                "$unset": {"parked_revocation": ""},
            },
            upsert=True,
            session=session,
        )
        parked: Document | None = (before or {}).get("parked_revocation")
        return parked

    async def park_revocation(self, loan_id: str, revocation: Document, session: Session) -> None:
        """A licence event about a loan not seen yet (the DRM and lending topics are not ordered with each
        other): keep it until the loan arrives."""
        await self.loans.update_one(
            {"_id": loan_id}, {"$set": {"parked_revocation": revocation}}, upsert=True, session=session
        )

    async def end_loan(self, loan_id: str, session: Session) -> None:
        await self.loans.update_one({"_id": loan_id}, {"$set": {"ended": True}}, session=session)

    async def loan(self, loan_id: str, session: Session = None) -> LoanRecord | None:
        document = await self.loans.find_one({"_id": loan_id}, session=session)
        if document is None or "patron_id" not in document:
            return None
        return LoanRecord(loan_id, document["patron_id"], document["title_id"])

    # -- bounced addresses -------------------------------------------------------------------------------------

    async def record_bounce(self, address: str, reason: str, at: datetime, session: Session = None) -> None:
        await self.bounces.update_one(
            {"_id": email_key(address)},
            {"$set": {"reason": reason[:500], "bounced_at": at}, "$inc": {"bounces": 1}},
            upsert=True,
            session=session,
        )

    async def bounced_among(self, addresses: Iterable[str], session: Session = None) -> set[str]:
        keys = sorted({email_key(address) for address in addresses})
        if not keys:
            return set()
        cursor = self.bounces.find({"_id": {"$in": keys}}, {"_id": 1}, session=session)
        return {document["_id"] async for document in cursor}
