"""In-app inbox messages: the notice's subject and summary, kept for the patron to read in the app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notify.domain.notices import Channel, Language, Notice, NoticeKind, RenderedNotice, delivery_id


@dataclass(frozen=True)
class InboxMessage:
    """One message in a patron's inbox. ``id`` is derived from the notice, so it is written once."""

    id: str
    patron_id: str
    kind: NoticeKind
    language: Language
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None = None


def inbox_message(notice: Notice, language: Language, rendered: RenderedNotice) -> InboxMessage:
    return InboxMessage(
        id=delivery_id(notice.id, Channel.INBOX),
        patron_id=notice.patron_id,
        kind=notice.kind,
        language=language,
        title=rendered.subject,
        body=rendered.summary,
        created_at=notice.occurred_at,
    )
