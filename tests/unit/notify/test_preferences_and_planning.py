"""Preference rules, quiet hours in the patron's time zone, and where a notice goes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from notify.adapters.projections import preferences_document, preferences_from
from notify.domain.notices import (
    APP_PATHS,
    RULES,
    Channel,
    Language,
    Notice,
    NoticeKind,
    Recipient,
    app_path,
    delivery_id,
)
from notify.domain.planning import plan_notice
from notify.domain.preferences import DEFAULT_TIME_ZONE, Preferences, QuietHours
from notify.errors import InvalidPreferences

NIGHT = QuietHours(time(22, 0), time(7, 0))
LUNCH = QuietHours(time(12, 0), time(13, 30))
ALL = frozenset(Channel)


def at_hcm(hour: int, minute: int = 0, day: int = 6) -> datetime:
    """A moment given in Hồ Chí Minh City wall-clock time (UTC+7, no daylight saving), as UTC."""
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


def notice(kind: NoticeKind = NoticeKind.HOLD_READY, deadline: datetime | None = None) -> Notice:
    return Notice("evt-1", kind, "p1", at_hcm(12), {}, deadline)


# -- quiet hours ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [(time(21, 59), False), (time(22, 0), True), (time(23, 30), True), (time(3, 0), True), (time(7, 0), False)],
)
def test_quiet_hours_may_run_past_midnight(moment: time, quiet: bool) -> None:
    assert NIGHT.contains(moment) is quiet


@pytest.mark.parametrize(("moment", "quiet"), [(time(11, 59), False), (time(12, 0), True), (time(13, 30), False)])
def test_quiet_hours_within_a_day(moment: time, quiet: bool) -> None:
    assert LUNCH.contains(moment) is quiet


def test_quiet_hours_need_a_span() -> None:
    with pytest.raises(InvalidPreferences):
        QuietHours(time(22, 0), time(22, 0))


def test_quiet_hours_end_the_next_morning_in_the_patrons_zone() -> None:
    preferences = Preferences(quiet_hours=NIGHT)
    assert NIGHT.end_after(at_hcm(23, 15), preferences.zone) == at_hcm(7, 0, day=7)
    assert NIGHT.end_after(at_hcm(2, 0), preferences.zone) == at_hcm(7, 0)
    assert NIGHT.end_after(at_hcm(9, 0), preferences.zone) is None


def test_the_same_instant_is_quiet_in_one_zone_and_not_in_another() -> None:
    instant = at_hcm(23, 0)  # 16:00 UTC, 17:00 in Paris
    assert Preferences(quiet_hours=NIGHT).send_at(notice(), instant) == at_hcm(7, 0, day=7)
    assert Preferences(time_zone="Europe/Paris", quiet_hours=NIGHT).send_at(notice(), instant) == instant


def test_quiet_hours_wait_but_urgent_kinds_do_not() -> None:
    preferences = Preferences(quiet_hours=NIGHT)
    now = at_hcm(23, 0)
    assert preferences.send_at(notice(NoticeKind.LOAN_DUE_SOON), now) == at_hcm(7, 0, day=7)
    assert preferences.send_at(notice(NoticeKind.EMAIL_VERIFICATION), now) == now


def test_quiet_hours_never_hold_a_notice_past_its_deadline() -> None:
    preferences = Preferences(quiet_hours=NIGHT)
    now = at_hcm(23, 0)
    lapses_at_dawn = notice(NoticeKind.HOLD_LAPSING, deadline=at_hcm(6, 0, day=7))
    lapses_later = notice(NoticeKind.HOLD_LAPSING, deadline=at_hcm(9, 0, day=7))
    assert preferences.send_at(lapses_at_dawn, now) == now
    assert preferences.send_at(lapses_later, now) == at_hcm(7, 0, day=7)


def test_no_quiet_hours_means_now() -> None:
    now = at_hcm(3, 0)
    assert Preferences().send_at(notice(), now) == now


# -- channels ------------------------------------------------------------------------------------------------


def test_defaults_per_kind() -> None:
    preferences = Preferences()
    assert preferences.time_zone == DEFAULT_TIME_ZONE
    assert preferences.channels_for(NoticeKind.HOLD_READY) == ALL
    assert preferences.channels_for(NoticeKind.LOAN_ENDED) == {Channel.INBOX}
    assert preferences.channels_for(NoticeKind.EMAIL_VERIFICATION) == {Channel.EMAIL}
    assert preferences.channels_for(NoticeKind.CARD_APPROVED) == {Channel.EMAIL, Channel.INBOX}


def test_a_patron_chooses_channels_per_kind() -> None:
    preferences = Preferences(channels={NoticeKind.HOLD_READY: frozenset({Channel.PUSH})})
    assert preferences.channels_for(NoticeKind.HOLD_READY) == {Channel.PUSH}
    assert preferences.channels_for(NoticeKind.LOAN_DUE_SOON) == ALL  # others keep their defaults
    silenced = Preferences(channels={NoticeKind.LOAN_DUE_SOON: frozenset()})
    assert silenced.channels_for(NoticeKind.LOAN_DUE_SOON) == frozenset()


def test_fixed_kinds_cannot_be_changed() -> None:
    with pytest.raises(InvalidPreferences, match="email-verification"):
        Preferences(channels={NoticeKind.EMAIL_VERIFICATION: frozenset()})
    with pytest.raises(InvalidPreferences, match="card-rejected"):
        Preferences(channels={NoticeKind.CARD_REJECTED: frozenset({Channel.PUSH})})
    # restating the fixed channel is fine
    Preferences(channels={NoticeKind.EMAIL_VERIFICATION: frozenset({Channel.EMAIL})})


def test_unknown_time_zones_are_refused() -> None:
    with pytest.raises(InvalidPreferences, match="Mars/Olympus"):
        Preferences(time_zone="Mars/Olympus")


def test_every_kind_has_rules_and_defaults_within_what_it_allows() -> None:
    for kind in NoticeKind:
        assert RULES[kind].default <= RULES[kind].allowed


def test_preferences_survive_a_round_trip_through_their_document() -> None:
    preferences = Preferences(
        time_zone="Asia/Bangkok",
        quiet_hours=NIGHT,
        channels={NoticeKind.HOLD_READY: frozenset({Channel.PUSH, Channel.INBOX})},
        language=Language.EN,
    )
    assert preferences_from(preferences_document(preferences)) == preferences
    assert preferences_from(None, "Asia/Bangkok") == Preferences(time_zone="Asia/Bangkok")


def test_language_tags_are_read_leniently() -> None:
    assert Language.parse("en-GB") is Language.EN
    assert Language.parse("vi") is Language.VI
    assert Language.parse("fr") is Language.VI
    assert Language.parse(None) is Language.VI


# -- planning ------------------------------------------------------------------------------------------------

LAN = Recipient("p1", "Trần Thị Lan", "lan@example.vn", Language.VI)


def test_a_notice_goes_to_every_chosen_channel_and_every_device() -> None:
    now = at_hcm(12)
    plan = plan_notice(notice(), LAN, Preferences(), now=now, push_devices=["phone", "laptop"])
    assert plan.inbox
    assert [(d.channel, d.target) for d in plan.deliveries] == [
        (Channel.EMAIL, "lan@example.vn"),
        (Channel.PUSH, "phone"),
        (Channel.PUSH, "laptop"),
    ]
    assert {d.id for d in plan.deliveries} == {"evt-1:email", "evt-1:push:phone", "evt-1:push:laptop"}
    assert all(d.not_before == now for d in plan.deliveries)


def test_no_address_means_no_email() -> None:
    nameless = Recipient("p1")
    plan = plan_notice(notice(), nameless, Preferences(), now=at_hcm(12))
    assert plan.inbox
    assert plan.deliveries == ()


def test_a_verification_code_goes_by_email_only() -> None:
    code = notice(NoticeKind.EMAIL_VERIFICATION, deadline=at_hcm(13))
    plan = plan_notice(code, LAN, Preferences(), now=at_hcm(12), push_devices=["phone"])
    assert [d.id for d in plan.deliveries] == ["evt-1:email"]
    assert not plan.inbox


def test_quiet_hours_delay_email_and_push_but_not_the_inbox() -> None:
    now = at_hcm(23)
    plan = plan_notice(notice(), LAN, Preferences(quiet_hours=NIGHT), now=now, push_devices=["phone"])
    assert plan.inbox
    assert {d.not_before for d in plan.deliveries} == {at_hcm(7, day=7)}


def test_a_notice_past_its_deadline_goes_nowhere() -> None:
    late = notice(NoticeKind.HOLD_READY, deadline=at_hcm(11))
    assert plan_notice(late, LAN, Preferences(), now=at_hcm(12)).empty


def test_delivery_ids_name_the_notice_and_the_channel() -> None:
    assert delivery_id("evt-9", Channel.INBOX) == "evt-9:inbox"
    assert delivery_id("evt-9", Channel.PUSH, "dev") == "evt-9:push:dev"


def test_every_kind_of_notice_opens_a_screen_of_the_reading_app() -> None:
    assert set(APP_PATHS) == set(NoticeKind)  # a new kind must say where it leads
    assert app_path("hold-ready") == "/holds"
    assert app_path("loan-due-soon") == "/loans"
    assert app_path("something-new") == "/inbox"
