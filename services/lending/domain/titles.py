"""Whether a catalogue title can be lent: only once the reader service holds a readable file of it.

A title staff type in by hand (a record, no file) or one whose publication was withdrawn is in the catalogue but
not lendable: no licence pool can lend it, so nobody gets a loan and a streaming token that would lead nowhere.
"""

from __future__ import annotations

NO_READABLE_PUBLICATION = "no-readable-publication"
WITHDRAWN = "withdrawn"
STAFF_RECORD_PREFIX = "staff:"  # publication ids of titles typed in by staff: no file behind them


def has_readable_publication(publication_id: str | None, recorded_readable: bool | None) -> bool:
    """``recorded_readable`` is what the catalogue recorded (None for records older than the flag: then only
    titles from ingested publications, not staff records, have a file)."""
    if recorded_readable is not None:
        return recorded_readable
    return bool(publication_id) and not str(publication_id).startswith(STAFF_RECORD_PREFIX)


def unlendable_reason(publication_id: str | None, recorded_readable: bool | None, withdrawn: bool) -> str | None:
    """Why the title cannot be lent now (a code the app translates), or None when it can."""
    if withdrawn:
        return WITHDRAWN
    if not has_readable_publication(publication_id, recorded_readable):
        return NO_READABLE_PUBLICATION
    return None


BOOK_FORMATS = {"application/epub+zip": "epub", "application/pdf": "pdf"}


def book_format(media_type: str) -> str:
    """The catalogue's name of a publication's file format ("epub", "pdf"; "" for another)."""
    return BOOK_FORMATS.get(media_type.split(";")[0].strip().lower(), "")
