"""What DRM's use cases need from storage, as small Protocols with named methods.

The MongoDB adapters are in ``drm.adapters.mongo_repositories``; in-memory fakes with the same semantics are in
``tests/unit/drm/fakes.py``, and one contract suite (``tests/contracts/drm``) runs against both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

from drm.domain.documents import Passphrase, ProtectedPublication
from drm.domain.licences import BlockChange, DeviceEvent, Licence, LoanFacts
from drm.domain.status import Status


class LicenceRepository(Protocol):
    async def by_id(self, licence_id: str) -> Licence | None: ...

    async def by_loan(self, loan_id: str) -> Licence | None: ...

    async def follow_loan(self, loan: LoanFacts, now: datetime) -> None:
        """Create the loan's licence ``ready`` (a new id), or bring the known licence's loan facts up to date."""

    async def add(self, licence: Licence) -> None:
        """Insert a licence (one born ended: the loan's end arrived before its creation)."""

    async def extend(self, loan_id: str, end: datetime, now: datetime) -> None:
        """The loan was renewed: a live licence now ends at ``end``; an ended one stays as it is."""

    async def change_status(
        self, licence_id: str, status: Status, now: datetime, event: DeviceEvent | None = None
    ) -> None: ...

    async def add_device(self, licence_id: str, device_id: str) -> None: ...

    async def renewed(self, licence_id: str, end: datetime, event: DeviceEvent) -> None:
        """Renewed through the status document: new end, recorded as updated at the event's time."""

    async def mark_delivered(self, licence_id: str) -> None: ...


class PassphraseRepository(Protocol):
    async def get(self, patron_id: str) -> Passphrase | None: ...

    async def put(self, patron_id: str, passphrase: Passphrase, now: datetime) -> None: ...


class PublicationRepository(Protocol):
    async def get(self, publication_id: str) -> ProtectedPublication | None: ...

    async def save(self, publication: ProtectedPublication) -> None: ...


class LocalDocumentRepository(Protocol):
    """The reader's published scanned local documents (``LocalDocumentPublished``): a loan of one is read as
    watermarked IIIF page images, never as a Readium publication or with an LCP licence."""

    async def record(self, document_id: str, library_id: str, at: datetime) -> None: ...

    async def is_local_document(self, publication_id: str) -> bool: ...


class BlockedPatronRepository(Protocol):
    """Lending's ``PatronBlocked``/``PatronUnblocked``, the latest change per patron."""

    async def last_change(self, patron_id: str) -> BlockChange | None: ...

    async def record(self, patron_id: str, change: BlockChange) -> None: ...

    async def is_blocked(self, patron_id: str) -> bool: ...


class ContentKeyStore(Protocol):
    """Content keys, one per publication, kept wrapped by a master key (``drm.adapters.content_keys``)."""

    async def get(self, publication_id: str) -> bytes | None: ...

    async def key_id(self, publication_id: str) -> str | None: ...

    async def get_or_create(self, publication_id: str) -> tuple[str, bytes]:
        """(key id, content key) of a publication; generated once, at its first protection."""


class ObjectStore(Protocol):
    """The object storage DRM reads originals from and writes protected packages to (S3 in production)."""

    async def read(self, bucket: str, key: str) -> bytes: ...

    async def write(self, bucket: str, key: str, data: bytes, content_type: str) -> None: ...

    async def open_stream(self, bucket: str, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks (found, or failed, before the first chunk is asked for)."""
