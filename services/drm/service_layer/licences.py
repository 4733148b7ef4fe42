"""Licences follow loans: issued for the patron's loan, status documents, register/renew/return, streaming tokens.

Lending's events drive the licence (a loan created makes a licence ``ready``; returned or expired ends it). A
return through the status document ends the licence here and tells lending (``LicenseReturned``), whose
consumer returns the loan; whichever side ends first, both end in the same state, and duplicates or
out-of-order events change nothing once a licence has ended.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from drm.domain import lcp
from drm.domain.status import ERROR_BASE, LIVE, MESSAGES, Status, after
from drm.service_layer.keys import ContentKeys
from sachso.events.v1 import drm_events_pb2
from sachso.kit.auth import TokenIssuer
from sachso.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from sachso.kit.events import OutboundEvent
from sachso.kit.outbox import Emit, Outbox
from sachso.kit.topics import DRM_EVENTS

Document = dict[str, Any]
RenewLoan = Callable[[str], Awaitable[datetime]]


@dataclass(frozen=True)
class LoanFacts:
    """A loan as lending states it (its event, or its answer when asked directly)."""

    loan_id: str
    patron_id: str
    publication_id: str
    starts_at: datetime
    due_at: datetime
    online_only: bool = False


AskLending = Callable[[str], Awaitable[LoanFacts | None]]


async def lending_not_asked(loan_id: str) -> LoanFacts | None:
    return None


class LicenceNotFound(NotFound):
    problem = "licence-not-found"
    title = "No such licence"


class PassphraseMissing(PreconditionFailed):
    problem = "lcp-passphrase-missing"
    title = "Set your reading passphrase first"


class OnlineOnly(Forbidden):
    problem = "online-only"
    title = "This document is lent for reading online only"


class PatronBlocked(Forbidden):
    problem = "card-blocked"
    title = "This reader card is blocked; please contact your library"


class LicenceEnded(Conflict):
    problem = "licence-ended"
    title = "This licence has ended"


class StatusRequestRefused(Conflict):
    """A register/renew/return the status document cannot grant, typed as the LSD specification says."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind

    @property
    def type_uri(self) -> str:
        return ERROR_BASE + self.kind


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Links:
    drm: str
    reader: str

    def status(self, licence_id: str) -> str:
        return f"{self.drm}/v1/licenses/{licence_id}/status"


class Licences:
    def __init__(
        self,
        database: AsyncDatabase[Document],
        outbox: Outbox,
        keys: ContentKeys,
        provider: lcp.Provider,
        provider_id: str,
        links: Links,
        issuer: TokenIssuer,
        *,
        streaming_audience: str = "sachso-streaming",
        streaming_seconds: int = 300,
        rights: tuple[int, int] = (10, 2000),
        ask_lending: AskLending = lending_not_asked,
    ) -> None:
        self.licences = database["licences"]
        self.publications = database["publications"]
        self.passphrases = database["passphrases"]
        self.blocked_patrons = database["blocked_patrons"]  # from lending's PatronBlocked / PatronUnblocked
        self.outbox = outbox
        self.keys = keys
        self.provider = provider
        self.provider_id = provider_id
        self.links = links
        self.issuer = issuer
        self.streaming_audience = streaming_audience
        self.streaming_seconds = streaming_seconds
        self.rights = rights
        self.ask_lending = ask_lending

    async def ensure_indexes(self) -> None:
        await self.licences.create_index("loan_id", unique=True)
        await self.licences.create_index("patron_id")

    # -- from lending's events -----------------------------------------------------------------------------

    async def loan_created(
        self,
        loan_id: str,
        patron_id: str,
        publication_id: str,
        start: datetime,
        end: datetime,
        session: AsyncClientSession,
        *,
        online_only: bool = False,
    ) -> None:
        await self.licences.update_one(
            {"loan_id": loan_id},
            {
                "$setOnInsert": {
                    "_id": str(uuid.uuid4()),
                    "loan_id": loan_id,
                    "status": Status.READY.value,
                    "devices": [],
                    "events": [],
                    "issued": _aware(start),
                },
                "$set": {
                    "patron_id": patron_id,
                    "publication_id": publication_id,
                    "start": _aware(start),
                    "end": _aware(end),
                    "online_only": online_only,
                    "status_updated": datetime.now(UTC),
                },
            },
            upsert=True,
            session=session,
        )

    async def loan_renewed(self, loan_id: str, end: datetime, session: AsyncClientSession) -> None:
        await self.licences.update_one(
            {"loan_id": loan_id, "status": {"$in": [s.value for s in LIVE]}},
            {"$set": {"end": _aware(end), "updated": datetime.now(UTC)}},
            session=session,
        )

    async def loan_ended(self, loan_id: str, returned: bool, session: AsyncClientSession, emit: Emit) -> None:
        """Lending ended the loan: end the licence (created as ended if the loan's creation comes later)."""
        document = await self.licences.find_one({"loan_id": loan_id}, session=session)
        now = datetime.now(UTC)
        if document is None:
            await self.licences.insert_one(
                {
                    "_id": str(uuid.uuid4()),
                    "loan_id": loan_id,
                    "status": Status.CANCELLED.value if returned else Status.EXPIRED.value,
                    "devices": [],
                    "events": [],
                    "issued": now,
                    "status_updated": now,
                },
                session=session,
            )
            return
        status = Status(document["status"])
        ended = after(
            status, (Status.RETURNED if status is Status.ACTIVE else Status.CANCELLED) if returned else Status.EXPIRED
        )
        if ended is status:
            return
        await self._set_status(document, ended, now, session, emit)

    async def _set_status(
        self,
        document: Document,
        status: Status,
        now: datetime,
        session: AsyncClientSession,
        emit: Emit,
        event: Document | None = None,
    ) -> None:
        update: Document = {"$set": {"status": status.value, "status_updated": now}}
        if event is not None:
            update["$push"] = {"events": event}
        await self.licences.update_one({"_id": document["_id"]}, update, session=session)
        emit(
            OutboundEvent(
                topic=DRM_EVENTS.name,
                key=document["loan_id"],
                subject=document["_id"],
                payload=drm_events_pb2.LicenseStatusChanged(
                    license_id=document["_id"],
                    loan_id=document["loan_id"],
                    status=drm_events_pb2.LicenseStatus.Value(f"LICENSE_STATUS_{status.name}"),
                    device_id=(event or {}).get("id", ""),
                    changed_at=_stamp(now),
                ),
            )
        )

    async def patron_blocked(self, patron_id: str, blocked: bool, at: datetime, session: AsyncClientSession) -> None:
        """Lending blocked (or unblocked) a card: no licence, renewal or streaming token for her meanwhile.
        The later of two changes wins, so events out of order end in the right state."""
        known = await self.blocked_patrons.find_one({"_id": patron_id}, session=session)
        if known is not None and _aware(known["changed_at"]) > _aware(at):
            return  # a later change arrived first
        await self.blocked_patrons.update_one(
            {"_id": patron_id}, {"$set": {"blocked": blocked, "changed_at": _aware(at)}}, upsert=True, session=session
        )

    async def _ensure_not_blocked(self, patron_id: str) -> None:
        if await self.blocked_patrons.find_one({"_id": patron_id, "blocked": True}, {"_id": 1}):
            raise PatronBlocked("this reader card is blocked; please contact your library")

    # -- patrons ---------------------------------------------------------------------------------------------

    async def set_passphrase(self, patron_id: str, passphrase: str, hint: str) -> None:
        if len(passphrase) < 4:
            raise InvalidInput("the passphrase needs at least 4 characters")
        if not hint.strip() or passphrase.lower() in hint.lower():
            raise InvalidInput("give a hint that does not contain the passphrase")
        await self.passphrases.update_one(
            {"_id": patron_id},
            {"$set": {"user_key": lcp.user_key(passphrase), "hint": hint.strip(), "updated": datetime.now(UTC)}},
            upsert=True,
        )

    async def hashed_passphrase(self, patron_id: str) -> str | None:
        """The user key, hex, for automatic key retrieval by trusted apps."""
        document = await self.passphrases.find_one({"_id": patron_id})
        return bytes(document["user_key"]).hex() if document else None

    async def _own_licence(self, loan_id: str, patron_id: str) -> Document:
        document = await self.licences.find_one({"loan_id": loan_id})
        if document is None:
            document = await self._learn_loan_from_lending(loan_id, patron_id)
        if document is None or document.get("patron_id") != patron_id:
            raise LicenceNotFound(f"you have no licence for loan {loan_id}")
        if Status(document["status"]) not in LIVE:
            raise LicenceEnded(f"the licence is {document['status']}")
        await self._ensure_not_blocked(patron_id)
        return document

    async def _learn_loan_from_lending(self, loan_id: str, patron_id: str) -> Document | None:
        """A licence asked for right after checkout, before ``LoanCreated`` arrived: ask lending, and record what
        it says exactly as the event would (the event, when it comes, changes nothing). Reading apps do not
        retry a 404, so this must not wait for the broker."""
        facts = await self.ask_lending(loan_id)
        if facts is None or facts.patron_id != patron_id:
            return None

        async def work(session: AsyncClientSession, emit: Emit) -> None:
            await self.loan_created(
                facts.loan_id, facts.patron_id, facts.publication_id, facts.starts_at, facts.due_at, session,
                online_only=facts.online_only,
            )  # fmt: skip

        await self.outbox.transaction(work)
        return await self.licences.find_one({"loan_id": loan_id})

    async def licence_for(self, loan_id: str, patron_id: str) -> dict[str, Any]:
        """The signed LCP licence of the patron's loan."""
        document = await self._own_licence(loan_id, patron_id)
        if document.get("online_only"):
            raise OnlineOnly("this document is read online only, as watermarked pages")
        publication = await self.publications.find_one({"_id": document["publication_id"]})
        if publication is None:
            raise PreconditionFailed("the book is still being prepared; try again in a moment")
        secret = await self.passphrases.find_one({"_id": patron_id})
        if secret is None:
            raise PassphraseMissing("set a reading passphrase (PUT /v1/lcp/passphrase) to open books in reading apps")
        content_key = await self.keys.get(document["publication_id"])
        assert content_key is not None
        user_key = bytes(secret["user_key"])
        licence_id = document["_id"]
        body = {
            "id": licence_id,
            "issued": _iso(document["issued"]),
            "updated": _iso(_aware(document.get("updated") or document["issued"])),
            "provider": self.provider_id,
            "encryption": {
                "profile": lcp.BASIC_PROFILE,
                "content_key": {
                    "algorithm": lcp.AES256_CBC,
                    "encrypted_value": lcp.b64(lcp.encrypt(user_key, content_key)),
                },
                "user_key": {
                    "algorithm": lcp.SHA256,
                    "text_hint": secret["hint"],
                    "key_check": lcp.b64(lcp.encrypt(user_key, licence_id.encode())),
                },
            },
            "links": [
                {"rel": "hint", "href": f"{self.links.drm}/v1/lcp/hint", "type": "text/html"},
                {
                    "rel": "publication",
                    "href": f"{self.links.drm}/v1/publications/{document['publication_id']}/protected",
                    "type": publication["media_type"],
                    "title": publication.get("title", ""),
                    "length": publication["length"],
                    "hash": publication["sha256"],
                },
                {"rel": "status", "href": self.links.status(licence_id), "type": lcp.STATUS_TYPE},
            ],
            "user": {"id": patron_id},
            "rights": {
                "print": self.rights[0],
                "copy": self.rights[1],
                "start": _iso(document["start"]),
                "end": _iso(document["end"]),
            },
        }
        if not document.get("delivered"):

            async def work(session: AsyncClientSession, emit: Emit) -> None:
                await self.licences.update_one({"_id": licence_id}, {"$set": {"delivered": True}}, session=session)
                emit(
                    OutboundEvent(
                        topic=DRM_EVENTS.name,
                        key=document["loan_id"],
                        subject=licence_id,
                        payload=drm_events_pb2.LicenseIssued(
                            license_id=licence_id,
                            loan_id=document["loan_id"],
                            patron_id=patron_id,
                            publication_id=document["publication_id"],
                            ends_at=_stamp(document["end"]),
                        ),
                    )
                )

            await self.outbox.transaction(work)
        return self.provider.sign(body)

    async def streaming_token(self, loan_id: str, patron_id: str) -> tuple[str, datetime, str]:
        """A short-lived token for the reader service: this publication, this patron, never past the loan's end."""
        document = await self._own_licence(loan_id, patron_id)
        now = datetime.now(UTC)
        expires = min(now + timedelta(seconds=self.streaming_seconds), _aware(document["end"]))
        token = self.issuer.issue(
            patron_id,
            audience=self.streaming_audience,
            ttl_seconds=(expires - now).total_seconds(),
            pub=document["publication_id"],
            loan=loan_id,
            online_only=bool(document.get("online_only")),
        )
        return token, expires, document["publication_id"]

    # -- License Status Document -------------------------------------------------------------------------------

    async def _by_id(self, licence_id: str) -> Document:
        document = await self.licences.find_one({"_id": licence_id})
        if document is None:
            raise LicenceNotFound(f"no licence {licence_id}")
        return document

    async def status_document(self, licence_id: str, language: str) -> dict[str, Any]:
        document = await self._by_id(licence_id)
        status = Status(document["status"])
        base = self.links.status(licence_id).removesuffix("/status")
        links: list[dict[str, Any]] = [
            {
                "rel": "license",
                "href": f"{self.links.drm}/v1/loans/{document['loan_id']}/license",
                "type": lcp.LICENSE_TYPE,
            }
        ]
        if status in LIVE:
            links.append(
                {"rel": "register", "href": f"{base}/register{{?id,name}}", "type": lcp.STATUS_TYPE, "templated": True}
            )
            links.append(
                {"rel": "return", "href": f"{base}/return{{?id,name}}", "type": lcp.STATUS_TYPE, "templated": True}
            )
            links.append(
                {"rel": "renew", "href": f"{base}/renew{{?end,id,name}}", "type": lcp.STATUS_TYPE, "templated": True}
            )
        body: dict[str, Any] = {
            "id": licence_id,
            "status": status.value,
            "message": MESSAGES[language][status],
            "updated": {
                "license": _iso(_aware(document.get("updated") or document["issued"])),
                "status": _iso(_aware(document["status_updated"])),
            },
            "links": links,
            "events": [
                {**event, "timestamp": _iso(_aware(event["timestamp"]))} for event in document.get("events", [])
            ],
        }
        if document.get("end") is not None:
            body["potential_rights"] = {"end": _iso(_aware(document["end"]))}
        return body

    async def register(self, licence_id: str, device_id: str, device_name: str) -> None:
        """A device says it holds the licence: ready → active; the same device again changes nothing."""
        if not device_id or not device_name:
            raise StatusRequestRefused("registration", "register needs the device id and name")

        async def work(session: AsyncClientSession, emit: Emit) -> None:
            document = await self.licences.find_one({"_id": licence_id}, session=session)
            if document is None:
                raise LicenceNotFound(f"no licence {licence_id}")
            status = Status(document["status"])
            if status not in LIVE:
                raise StatusRequestRefused("registration", f"the licence is {status.value}")
            if device_id in document.get("devices", []):
                return
            now = datetime.now(UTC)
            event = {"type": "register", "name": device_name, "id": device_id, "timestamp": now}
            await self.licences.update_one({"_id": licence_id}, {"$addToSet": {"devices": device_id}}, session=session)
            await self._set_status(document, Status.ACTIVE, now, session, emit, event)

        await self.outbox.transaction(work)

    async def return_licence(self, licence_id: str, device_id: str, device_name: str) -> None:
        """The reading app gives the book back: the licence ends here, lending hears of it and returns the loan."""

        async def work(session: AsyncClientSession, emit: Emit) -> None:
            document = await self.licences.find_one({"_id": licence_id}, session=session)
            if document is None:
                raise LicenceNotFound(f"no licence {licence_id}")
            status = Status(document["status"])
            if status in (Status.RETURNED, Status.CANCELLED) and any(
                e.get("type") == "return" and e.get("id") == device_id for e in document.get("events", [])
            ):
                return  # the same device returning twice: one return
            if status not in LIVE:
                raise StatusRequestRefused("return", f"the licence is already {status.value}")
            now = datetime.now(UTC)
            event = {"type": "return", "name": device_name or "", "id": device_id or "", "timestamp": now}
            ended = Status.RETURNED if status is Status.ACTIVE else Status.CANCELLED
            await self._set_status(document, ended, now, session, emit, event)
            emit(
                OutboundEvent(
                    topic=DRM_EVENTS.name,
                    key=document["loan_id"],
                    subject=licence_id,
                    payload=drm_events_pb2.LicenseReturned(
                        license_id=licence_id,
                        loan_id=document["loan_id"],
                        device_id=device_id or "",
                        returned_at=_stamp(now),
                    ),
                )
            )

        await self.outbox.transaction(work)

    async def renew(self, licence_id: str, device_id: str, device_name: str, renew_loan: RenewLoan) -> None:
        """Extend the licence as far as lending renews the loan (lending decides: holds, renewal limits)."""
        document = await self._by_id(licence_id)
        if Status(document["status"]) not in LIVE:
            raise StatusRequestRefused("renew", f"the licence is {document['status']}")
        await self._ensure_not_blocked(document.get("patron_id", ""))
        try:
            new_end = await renew_loan(document["loan_id"])
        except (Conflict, PreconditionFailed) as refused:
            raise StatusRequestRefused("renew", refused.detail) from None

        async def work(session: AsyncClientSession, emit: Emit) -> None:
            now = datetime.now(UTC)
            event = {"type": "renew", "name": device_name or "", "id": device_id or "", "timestamp": now}
            await self.licences.update_one(
                {"_id": licence_id},
                {"$set": {"end": new_end, "updated": now}, "$push": {"events": event}},
                session=session,
            )

        await self.outbox.transaction(work)
