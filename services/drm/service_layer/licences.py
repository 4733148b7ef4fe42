"""Use cases of a licence that follows its loan: lending's events, passphrases, the signed LCP licence, streaming
tokens. The rules are in ``drm.domain.licences``; storage is reached only through the unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from drm.domain import lcp
from drm.domain import licences as rules
from drm.domain.documents import LicenceWriter, Passphrase
from drm.domain.licences import BlockChange, Licence, LoanFacts
from drm.errors import PassphraseMissing, PatronBlocked, PublicationNotReady
from drm.service_layer import events
from drm.service_layer.repositories import ContentKeyStore
from drm.service_layer.unit_of_work import DrmUnitOfWork, UnitOfWorkFactory

AskLending = Callable[[str], Awaitable[LoanFacts | None]]
Clock = Callable[[], datetime]


async def lending_not_asked(loan_id: str) -> LoanFacts | None:
    return None


def utc_now() -> datetime:
    return datetime.now(UTC)


class TokenMinter(Protocol):
    """Issues signed, short-lived tokens (``sachso.kit.auth.TokenIssuer``)."""

    def issue(self, subject: str, *, audience: str, ttl_seconds: float = ..., **claims: Any) -> str: ...


@dataclass(frozen=True)
class StreamingGrant:
    """A streaming token and what the reading app may know about its loan: when it ends (a copy kept for offline
    reading must not open past it) and whether the title may only be read online (never stored)."""

    token: str
    expires_at: datetime
    publication_id: str
    loan_ends_at: datetime | None
    online_only: bool
    local_document: bool = False  # a scanned local document: read as watermarked IIIF page images


async def ensure_not_blocked(uow: DrmUnitOfWork, patron_id: str) -> None:
    if await uow.blocked_patrons.is_blocked(patron_id):
        raise PatronBlocked("this reader card is blocked; please contact your library")


class Licences:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        keys: ContentKeyStore,
        writer: LicenceWriter,
        issuer: TokenMinter,
        *,
        streaming_audience: str = "sachso-streaming",
        streaming_seconds: int = 300,
        ask_lending: AskLending = lending_not_asked,
        clock: Clock = utc_now,
    ) -> None:
        self.uow = uow
        self.keys = keys
        self.writer = writer
        self.issuer = issuer
        self.streaming_audience = streaming_audience
        self.streaming_seconds = streaming_seconds
        self.ask_lending = ask_lending
        self.clock = clock

    # -- from lending's events (in the consumer's transaction: ``uow`` joins it) -----------------------------

    async def loan_created(self, uow: DrmUnitOfWork, loan: LoanFacts) -> None:
        await uow.licences.follow_loan(loan, self.clock())

    async def loan_renewed(self, uow: DrmUnitOfWork, loan_id: str, end: datetime) -> None:
        await uow.licences.extend(loan_id, end, self.clock())

    async def loan_ended(self, uow: DrmUnitOfWork, loan_id: str, returned: bool) -> None:
        """Lending ended the loan: end the licence (created as ended if the loan's creation comes later)."""
        licence = await uow.licences.by_loan(loan_id)
        now = self.clock()
        if licence is None:
            status = rules.status_created_ended(returned)
            await uow.licences.add(Licence(str(uuid.uuid4()), loan_id, status, issued=now, status_updated=now))
            return
        ended = rules.status_when_loan_ends(licence.status, returned)
        if ended is not licence.status:
            await uow.licences.change_status(licence.id, ended, now)
            uow.emit(events.status_changed(licence, ended, now))

    async def patron_blocked(self, uow: DrmUnitOfWork, patron_id: str, change: BlockChange) -> None:
        """Lending blocked (or unblocked) a card: no licence, renewal or streaming token for her meanwhile.
        The later of two changes wins, so events out of order end in the right state."""
        if rules.block_change_applies(await uow.blocked_patrons.last_change(patron_id), change):
            await uow.blocked_patrons.record(patron_id, change)

    async def local_document_published(
        self, uow: DrmUnitOfWork, document_id: str, library_id: str, at: datetime
    ) -> None:
        """The reader published a scanned local document: its loans are read through IIIF, never by LCP."""
        await uow.local_documents.record(document_id, library_id, at)

    # -- patrons ---------------------------------------------------------------------------------------------

    async def set_passphrase(self, patron_id: str, passphrase: str, hint: str) -> None:
        rules.check_passphrase(passphrase, hint)
        secret = Passphrase(lcp.user_key(passphrase), hint.strip())

        async def work(uow: DrmUnitOfWork) -> None:
            await uow.passphrases.put(patron_id, secret, self.clock())

        await self.uow().run(work)

    async def passphrase(self, patron_id: str) -> Passphrase | None:
        """The patron's user key and hint (automatic key retrieval by trusted apps), if she set a passphrase."""

        async def work(uow: DrmUnitOfWork) -> Passphrase | None:
            return await uow.passphrases.get(patron_id)

        return await self.uow().run(work)

    async def hashed_passphrase(self, patron_id: str) -> str | None:
        """The user key, hex."""
        secret = await self.passphrase(patron_id)
        return secret.user_key.hex() if secret else None

    async def _own_licence(self, loan_id: str, patron_id: str) -> tuple[Licence, bool]:
        """The patron's live licence of ``loan_id``, and whether its publication is a scanned local document."""

        async def work(uow: DrmUnitOfWork) -> tuple[Licence | None, bool]:
            return await uow.licences.by_loan(loan_id), await uow.blocked_patrons.is_blocked(patron_id)

        licence, blocked = await self.uow().run(work)
        if licence is None:
            licence = await self._learn_loan_from_lending(loan_id, patron_id)
        licence = rules.check_owned_and_live(licence, loan_id, patron_id)
        if blocked:
            raise PatronBlocked("this reader card is blocked; please contact your library")

        if licence.local_document:  # lending said so with the loan: no matter what DRM heard from the reader
            return licence, True

        async def scanned(uow: DrmUnitOfWork) -> bool:
            return await uow.local_documents.is_local_document(licence.publication_id or "")

        return licence, await self.uow().run(scanned)

    async def _learn_loan_from_lending(self, loan_id: str, patron_id: str) -> Licence | None:
        """A licence asked for right after checkout, before ``LoanCreated`` arrived: ask lending, and record what
        it says exactly as the event would (the event, when it comes, changes nothing). Reading apps do not
        retry a 404, so this must not wait for the broker."""
        facts = await self.ask_lending(loan_id)
        if facts is None or facts.patron_id != patron_id:
            return None

        async def work(uow: DrmUnitOfWork) -> Licence | None:
            await self.loan_created(uow, facts)
            return await uow.licences.by_loan(loan_id)

        return await self.uow().run(work)

    async def licence_for(self, loan_id: str, patron_id: str) -> bytes:
        """The signed LCP licence of the patron's loan, as the JSON a reading app downloads."""
        licence, local_document = await self._own_licence(loan_id, patron_id)
        rules.check_downloadable(licence, local_document)
        assert licence.publication_id is not None

        async def read(uow: DrmUnitOfWork) -> tuple[Any, Passphrase | None]:
            assert licence.publication_id is not None
            return await uow.publications.get(licence.publication_id), await uow.passphrases.get(patron_id)

        publication, secret = await self.uow().run(read)
        if publication is None:
            raise PublicationNotReady("the book is still being prepared; try again in a moment")
        if secret is None:
            raise PassphraseMissing("set a reading passphrase (PUT /v1/lcp/passphrase) to open books in reading apps")
        content_key = await self.keys.get(licence.publication_id)
        assert content_key is not None
        signed = self.writer.signed(licence, publication, secret, content_key)
        if not licence.delivered:

            async def delivered(uow: DrmUnitOfWork) -> None:
                await uow.licences.mark_delivered(licence.id)
                uow.emit(events.licence_issued(licence))

            await self.uow().run(delivered)
        return signed

    async def streaming_token(self, loan_id: str, patron_id: str) -> StreamingGrant:
        """A short-lived token for the reader service: this publication, this patron, never past the loan's end."""
        licence, local_document = await self._own_licence(loan_id, patron_id)
        assert licence.publication_id is not None
        now = self.clock()
        expires = rules.streaming_expiry(now, self.streaming_seconds, licence)
        token = self.issuer.issue(
            patron_id,
            audience=self.streaming_audience,
            ttl_seconds=(expires - now).total_seconds(),
            pub=licence.publication_id,
            loan=loan_id,
            online_only=licence.online_only or local_document,
        )
        loan_ends_at = rules.aware(licence.end) if licence.end is not None else None
        return StreamingGrant(
            token, expires, licence.publication_id, loan_ends_at, licence.online_only or local_document, local_document
        )
