"""What the reader's use cases need from storage, as small Protocols with named methods.

The MongoDB adapters are in ``reader.adapters.mongo_repositories``; in-memory fakes with the same semantics are in
``tests/unit/reader/fakes.py``, and one contract suite (``tests/unit/reader/repository_contract.py``) runs
against both.

The streaming path reads publications and revocations *outside* any unit of work (``PublicationReads``,
``RevocationReads``): one plain read, cached for seconds, on the hottest path there is — a transaction would add
a round trip to every cache miss.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from reader.domain.reading import Annotation, Position

Document = dict[str, Any]


class DuplicateEntry(Exception):
    """A write broke a uniqueness rule (the same file from the same publisher, ingested twice at once)."""


class PositionRepository(Protocol):
    async def keep_if_later(self, patron_id: str, position: Position, received_at: datetime) -> Position:
        """Store ``position`` unless one with a later ``modified`` is stored; the position that stays (``applied``
        False when it is the stored one)."""
        ...

    async def get(self, patron_id: str, publication_id: str) -> Position | None: ...

    async def received_since(self, patron_id: str, since: datetime) -> list[Position]:
        """Positions of any publication received after ``since``, in the order they arrived."""
        ...


class AnnotationRepository(Protocol):
    async def add(self, annotation: Annotation) -> None: ...

    async def of(self, patron_id: str, publication_id: str) -> list[Annotation]:
        """Hers in the publication, newest first."""
        ...

    async def delete(self, patron_id: str, annotation_id: str) -> bool:
        """Delete one of hers; False when she has no such annotation."""
        ...


class RevocationRepository(Protocol):
    async def end_loan(self, loan_id: str, at: datetime) -> None:
        """Record that the loan ended (the first time counts)."""
        ...

    async def block_changed_at(self, patron_id: str) -> datetime | None:
        """When her card's block was last changed, if ever."""
        ...

    async def set_blocked(self, patron_id: str, blocked: bool, at: datetime) -> None: ...


class RevocationReads(Protocol):
    async def loan_ended(self, loan_id: str) -> bool: ...

    async def patron_blocked(self, patron_id: str) -> bool: ...


class PublicationReads(Protocol):
    async def get(self, publication_id: str) -> Document | None:
        """The stored publication (manifest, sizes, version, key, format, metadata…)."""
        ...


class PublicationRepository(PublicationReads, Protocol):
    async def owned(self, publisher_id: str, publication_id: str) -> Document | None:
        """The publisher's own publication; another publisher's does not exist for her."""
        ...

    async def same_file(self, publisher_id: str, sha256: str, other_than: str | None = None) -> Document | None:
        """Her publication with this file (other than ``other_than``)."""
        ...

    async def same_isbn(self, publisher_id: str, isbn: str) -> Document | None: ...

    async def exists(self, publication_id: str) -> bool: ...

    async def add(self, publication_id: str, document: Document) -> None:
        """Insert a new publication (never over another); :class:`DuplicateEntry` when the publisher has one with
        the same file already."""
        ...

    async def replace_owned(self, publisher_id: str, publication_id: str, document: Document) -> bool:
        """Set ``document``'s fields on her publication; False when she has none of that id."""
        ...

    async def withdraw(self, publication_id: str, at: datetime) -> None: ...
