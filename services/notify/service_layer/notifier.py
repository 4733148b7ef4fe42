"""From a notice to what the patron gets: routes it by her preferences, renders it in her language and writes
the inbox message and the deliveries — all in the caller's transaction (the consumer's, or the scheduler's),
so a notice causes them exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from notify.domain.inbox import inbox_message
from notify.domain.notices import RULES, Channel, Language, Notice, NoticeKind, RenderedNotice
from notify.domain.planning import Plan, plan_notice
from notify.service_layer.clock import Clock, system_clock
from notify.service_layer.unit_of_work import NotifyUnitOfWork


class Renderer(Protocol):
    def render(
        self, kind: NoticeKind, language: Language, facts: Mapping[str, Any], *, name: str = "", time_zone: ZoneInfo
    ) -> RenderedNotice: ...


@dataclass(frozen=True)
class ReminderLeads:
    """How long before a deadline the patron is reminded."""

    loan_due: timedelta = timedelta(days=2)
    hold_lapse: timedelta = timedelta(hours=24)


class Notifier:
    def __init__(
        self,
        *,
        renderer: Renderer,
        leads: ReminderLeads = ReminderLeads(),
        push_enabled: bool = False,
        clock: Clock = system_clock,
    ) -> None:
        self.renderer = renderer
        self.leads = leads
        self.push_enabled = push_enabled
        self.clock = clock

    async def notify(self, notice: Notice, uow: NotifyUnitOfWork) -> Plan:
        """Write what ``notice`` causes (inbox message, deliveries) in ``uow``."""
        recipient, preferences = await uow.projections.patron(notice.patron_id)
        devices: list[str] = []
        if self.push_enabled and Channel.PUSH in preferences.channels_for(notice.kind):
            devices = await uow.push_devices.active_ids(notice.patron_id)
        now = self.clock()
        plan = plan_notice(notice, recipient, preferences, now=now, push_devices=devices)
        if plan.empty:
            return plan
        language = preferences.language or recipient.language
        name = RULES[notice.kind].addressee_name(recipient.display_name)
        rendered = self.renderer.render(notice.kind, language, notice.facts, name=name, time_zone=preferences.zone)
        if plan.inbox:
            await uow.inbox.add(inbox_message(notice, language, rendered))
        await uow.deliveries.add_planned(
            plan.deliveries, notice, recipient_name=name, language=language, rendered=rendered, created_at=now
        )
        return plan
