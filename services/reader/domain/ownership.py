"""Who a publication belongs to, and the id a new one gets.

A publication belongs to the publisher that ingested it, for good: the same file or the same ISBN from another
publisher is another publication (as two distributors of one book hold two licence pools in library e-lending),
never a re-assignment. A publisher who asks about another's publication is told it has no such publication, so
nobody can learn from an answer which books a competitor has ingested.
"""

from __future__ import annotations

import hashlib
import secrets


def derived_publication_id(publisher_id: str, file_digest: str) -> str:
    """A new publication's id: one publisher's file always gets the same one (two uploads of it at the same
    moment meet on one publication); another publisher's upload of the same bytes never does."""
    return "pub-" + hashlib.sha256(f"{publisher_id}\n{file_digest}".encode()).hexdigest()[:20]


def fresh_publication_id() -> str:
    """An id for a new publication whose derived id is taken (its file was replaced since by another one)."""
    return f"pub-{secrets.token_hex(10)}"
