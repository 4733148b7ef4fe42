"""MongoDB documents of the network's groups and change log (no client here: the store and the repository share
these translations)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lending.domain.network import LibraryGroup, LibraryKind

Document = dict[str, Any]


def group_document(group: LibraryGroup) -> Document:
    return {
        "_id": group.id,
        "name": group.name,
        "scope_id": group.scope_id,
        "kinds": sorted(kind.value for kind in group.kinds),
        "members": sorted(group.members),
    }


def group_from(document: Document) -> LibraryGroup:
    return LibraryGroup(
        id=document["_id"],
        name=document["name"],
        scope_id=document["scope_id"],
        kinds=frozenset(LibraryKind(kind) for kind in document.get("kinds", [])),
        members=frozenset(document.get("members", [])),
    )


def aware(moment: datetime) -> datetime:
    """MongoDB keeps UTC; a client opened without ``tz_aware`` hands back naive datetimes."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
