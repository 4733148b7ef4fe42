"""A patron's notification preferences: which channels for which kinds, and quiet hours in her time zone.

Quiet hours hold email and push (never the inbox, which makes no noise) until they end, except for urgent
kinds (a verification code) and except when waiting would pass the notice's deadline: a patron would rather be
woken than lose the book she waited for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notify.domain.notices import RULES, Channel, Language, Notice, NoticeKind
from notify.errors import InvalidPreferences

DEFAULT_TIME_ZONE = "Asia/Ho_Chi_Minh"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; :class:`InvalidPreferences` if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidPreferences(f"unknown time zone {name!r}") from None


@dataclass(frozen=True)
class QuietHours:
    """A daily span of local wall-clock time, which may run past midnight (22:00–07:00)."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise InvalidPreferences("quiet hours must start and end at different times")

    def contains(self, moment: time) -> bool:
        moment = moment.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def end_after(self, now: datetime, time_zone: ZoneInfo) -> datetime | None:
        """When the quiet span around ``now`` ends (UTC); None if ``now`` is not in quiet hours."""
        local = now.astimezone(time_zone)
        if not self.contains(local.time()):
            return None
        day = local.date() if local.time().replace(tzinfo=None) < self.end else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=time_zone).astimezone(UTC)


@dataclass(frozen=True)
class Preferences:
    """What a patron chose. Kinds she did not choose for keep their defaults (see ``notices.RULES``)."""

    time_zone: str = DEFAULT_TIME_ZONE
    quiet_hours: QuietHours | None = None
    channels: Mapping[NoticeKind, frozenset[Channel]] = field(default_factory=dict)
    language: Language | None = None

    def __post_init__(self) -> None:
        zone(self.time_zone)
        for kind, chosen in self.channels.items():
            rules = RULES[kind]
            if rules.fixed and chosen != rules.default:
                raise InvalidPreferences(f"{kind.value} always goes by {', '.join(sorted(rules.default))}")
            if not chosen <= rules.allowed:
                refused = ", ".join(sorted(chosen - rules.allowed))
                raise InvalidPreferences(f"{kind.value} cannot be sent by {refused}")

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.time_zone)

    def channels_for(self, kind: NoticeKind) -> frozenset[Channel]:
        rules = RULES[kind]
        if rules.fixed:
            return rules.default
        return self.channels.get(kind, rules.default) & rules.allowed

    def send_at(self, notice: Notice, now: datetime) -> datetime:
        """When email and push for ``notice`` may go: now, or when the patron's quiet hours end."""
        if notice.rules.urgent or self.quiet_hours is None:
            return now
        quiet_until = self.quiet_hours.end_after(now, self.zone)
        if quiet_until is None or (notice.deadline is not None and quiet_until >= notice.deadline):
            return now
        return quiet_until
