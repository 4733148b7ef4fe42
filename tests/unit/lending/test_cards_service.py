"""Reader cards on the in-memory fakes: application, email code, approval, sign-in, refresh, PIN change and the
throttles — the rules of :mod:`lending.service_layer.cards`, in milliseconds, no server."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from lending.domain.network import Library, LibraryKind
from lending.domain.patrons import CardStatus
from lending.domain.policy import LendingPolicy
from lending.domain.throttle import ApplicationLimits
from lending.errors import (
    ApplicationNotFound,
    ApplicationStateError,
    ApplicationsThrottled,
    CardBlocked,
    CurrentPinWrong,
    DuplicateRegistration,
    LibraryNotFound,
    SignInFailed,
    SignInLocked,
    VerificationFailed,
)
from lending.service_layer.cards import REFRESH_TOKEN_LIFETIME, CardAccess, Cards, Secrets
from sachso.events.v1 import lending_events_pb2 as events
from sachso.kit.auth import Principal, Role, TokenIssuer
from sachso.kit.errors import InvalidInput
from tests.unit.lending.fakes import FakeAttemptCounters, FakeCardStatuses, LendingState, fake_units_of_work

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LIBRARIES = [
    Library("daklak", "Thư viện tỉnh Đắk Lắk", LibraryKind.PROVINCE, code="DL"),
    Library("eakar", "Thư viện huyện Ea Kar", LibraryKind.DISTRICT, "daklak", auto_approve_cards=True, code="EK"),
]
FAST_HASHES = Secrets(PasswordHasher(time_cost=1, memory_cost=8 * 1024))


class Desk:
    """The fakes, a clock and the card service."""

    def __init__(self, limits: ApplicationLimits | None = None) -> None:
        self.now = START
        self.state = LendingState(libraries=list(LIBRARIES))
        self.state.policies = {"daklak": LendingPolicy(card_validity=timedelta(days=365))}
        self.counters = FakeAttemptCounters()
        self.cards = Cards(
            fake_units_of_work(self.state),
            self.counters,
            TokenIssuer.generate("sachso-lending"),
            FAST_HASHES,
            clock=lambda: self.now,
            application_limits=limits,
        )

    def published(self) -> list[str]:
        return [event.type.rsplit(".", 1)[-1] for event in self.state.published]

    def code_sent_to(self, patron_id: str) -> str:
        payloads = [event.payload for event in self.state.published]
        return next(
            p.code for p in payloads if isinstance(p, events.EmailVerificationRequested) and p.patron_id == patron_id
        )

    async def apply(self, email: str = "an@example.vn", library_id: str = "daklak", client: str = "1.2.3.4") -> str:
        application = await self.cards.apply(
            library_id=library_id, display_name="Nguyễn Thị  An", email=email, pin="2468", client=client
        )
        return application.patron_id

    async def active_card(self, email: str = "an@example.vn") -> tuple[str, str]:
        patron_id = await self.apply(email, library_id="eakar")
        await self.cards.verify_email(patron_id, self.code_sent_to(patron_id))
        number = self.state.patrons[patron_id].card_number
        assert number is not None
        return patron_id, number


@pytest.fixture
def desk() -> Desk:
    return Desk()


async def test_an_application_waits_for_its_emailed_code(desk: Desk) -> None:
    patron_id = await desk.apply(email=" An@Example.VN ")
    patron = desk.state.patrons[patron_id]
    assert (patron.status, patron.email, patron.display_name) == (
        CardStatus.PENDING_VERIFICATION,
        "an@example.vn",
        "Nguyễn Thị An",
    )
    assert desk.published() == ["PatronRegistered", "EmailVerificationRequested"]
    with pytest.raises(DuplicateRegistration):
        await desk.apply()  # one live application per address and library
    assert await desk.apply(library_id="eakar")  # another library is another application
    with pytest.raises(LibraryNotFound):
        await desk.apply(email="binh@example.vn", library_id="nowhere")
    with pytest.raises(InvalidInput):
        await desk.cards.apply(library_id="daklak", display_name="Bình", email="b@example.vn", pin="12")
    assert len(desk.state.patrons) == 2  # refused applications left nothing behind


async def test_wrong_codes_count_even_though_the_request_fails(desk: Desk) -> None:
    patron_id = await desk.apply()
    wrong = f"{(int(desk.code_sent_to(patron_id)) + 1) % 1_000_000:06d}"
    for _ in range(5):
        with pytest.raises(VerificationFailed, match="wrong"):
            await desk.cards.verify_email(patron_id, wrong)
    assert desk.state.verifications[patron_id].attempts == 5
    with pytest.raises(VerificationFailed, match="too many"):
        await desk.cards.verify_email(patron_id, desk.code_sent_to(patron_id))
    with pytest.raises(ApplicationNotFound):
        await desk.cards.verify_email("nobody", "123456")


async def test_a_code_expires(desk: Desk) -> None:
    patron_id = await desk.apply()
    desk.now += timedelta(minutes=16)
    with pytest.raises(VerificationFailed, match="expired"):
        await desk.cards.verify_email(patron_id, desk.code_sent_to(patron_id))


async def test_a_verified_application_waits_for_a_librarian_unless_the_library_approves_at_once(desk: Desk) -> None:
    waiting = await desk.apply()
    application = await desk.cards.verify_email(waiting, desk.code_sent_to(waiting))
    assert application.status is CardStatus.PENDING_APPROVAL
    assert waiting not in desk.state.verifications  # the code is used up
    with pytest.raises(VerificationFailed, match="no code"):
        await desk.cards.verify_email(waiting, desk.code_sent_to(waiting))

    patron_id, number = await desk.active_card("binh@example.vn")
    assert number == "EK-000001"
    assert desk.state.patrons[patron_id].card_expires_at == START + LendingPolicy().card_validity
    assert desk.published()[-1] == "PatronApproved"


async def test_a_librarian_approves_or_rejects_a_verified_application(desk: Desk) -> None:
    first, second = await desk.apply(), await desk.apply("binh@example.vn")
    with pytest.raises(ApplicationStateError):
        await desk.cards.decide(first, approve=True)  # not verified yet
    for patron_id in (first, second):
        await desk.cards.verify_email(patron_id, desk.code_sent_to(patron_id))
    approved = await desk.cards.decide(first, approve=True)
    assert (approved.status, approved.card_number) == (CardStatus.ACTIVE, "DL-000001")
    assert approved.card_expires_at == START + timedelta(days=365)  # the library's policy
    rejected = await desk.cards.decide(second, approve=False, reason="không có địa chỉ")
    assert rejected.status is CardStatus.REJECTED
    assert desk.published()[-2:] == ["PatronApproved", "PatronRejected"]
    assert await desk.apply("binh@example.vn")  # a rejected address may apply again
    desk.now += timedelta(days=30)
    renewed = await desk.cards.renew_card(first)
    assert renewed.card_expires_at == START + timedelta(days=365 * 2)  # from the old expiry, not from today
    with pytest.raises(ApplicationNotFound):
        await desk.cards.renew_card(second)


async def test_sign_in_refresh_once_and_sign_out_everywhere(desk: Desk) -> None:
    patron_id, number = await desk.active_card()
    with pytest.raises(SignInFailed):
        await desk.cards.sign_in(number, "1111")
    with pytest.raises(SignInFailed):
        await desk.cards.sign_in("EK-999999", "2468")  # an unknown card is answered alike
    pair = await desk.cards.sign_in(f" {number.lower()} ", "2468")
    renewed = await desk.cards.refresh(pair.refresh_token)
    with pytest.raises(SignInFailed):
        await desk.cards.refresh(pair.refresh_token)  # once only
    await desk.cards.sign_in(number, "2468")
    assert await desk.cards.sign_out_everywhere(patron_id) == 2
    with pytest.raises(SignInFailed):
        await desk.cards.refresh(renewed.refresh_token)


async def test_an_expired_refresh_token_is_refused_and_used_up(desk: Desk) -> None:
    _, number = await desk.active_card()
    pair = await desk.cards.sign_in(number, "2468")
    desk.now += REFRESH_TOKEN_LIFETIME
    with pytest.raises(SignInFailed, match="expired"):
        await desk.cards.refresh(pair.refresh_token)
    assert desk.state.refresh_tokens == {}


async def test_a_blocked_card_is_told_only_to_whoever_knows_the_pin(desk: Desk) -> None:
    patron_id, number = await desk.active_card()
    pair = await desk.cards.sign_in(number, "2468")
    desk.state.patrons[patron_id] = replace(desk.state.patrons[patron_id], status=CardStatus.BLOCKED)
    with pytest.raises(SignInFailed):
        await desk.cards.sign_in(number, "0000")
    with pytest.raises(CardBlocked):
        await desk.cards.sign_in(number, "2468")
    with pytest.raises(CardBlocked):
        await desk.cards.refresh(pair.refresh_token)
    access = CardAccess(FakeCardStatuses(desk.state), remember_seconds=0)
    with pytest.raises(CardBlocked):
        await access.ensure_not_blocked(Principal(patron_id, frozenset({Role.PATRON}), library_id="eakar"))
    await access.ensure_not_blocked(Principal("staff", frozenset({Role.LIBRARIAN}), library_id="eakar"))


async def test_a_new_pin_needs_the_current_one_and_signs_out_every_device(desk: Desk) -> None:
    patron_id, number = await desk.active_card()
    pair = await desk.cards.sign_in(number, "2468")
    with pytest.raises(CurrentPinWrong):
        await desk.cards.change_pin(patron_id, "0000", "13579")
    await desk.cards.change_pin(patron_id, "2468", "13579")
    with pytest.raises(SignInFailed):
        await desk.cards.refresh(pair.refresh_token)
    with pytest.raises(SignInFailed):
        await desk.cards.sign_in(number, "2468")
    assert await desk.cards.sign_in(number, "13579")


async def test_sign_in_attempts_are_counted_before_the_pin_is_checked() -> None:
    desk = Desk()
    _, number = await desk.active_card()
    for _ in range(5):  # five wrong PINs from one client, then it waits
        with pytest.raises(SignInFailed):
            await desk.cards.sign_in(number, "0000", client="9.9.9.9")
    with pytest.raises(SignInLocked) as locked:
        await desk.cards.sign_in(number, "0000", client="9.9.9.9")
    assert locked.value.retry_after > 0
    with pytest.raises(SignInLocked):
        await desk.cards.sign_in(number, "2468", client="9.9.9.9")  # even the right PIN waits
    assert await desk.cards.sign_in(number, "2468", client="8.8.8.8")  # another client is not slowed


async def test_applications_are_throttled_per_address_before_anything_is_written() -> None:
    desk = Desk(ApplicationLimits.of(per_client_per_hour=10, per_address_per_day=2))
    patron_id = await desk.apply()
    with pytest.raises(DuplicateRegistration):
        await desk.apply()
    with pytest.raises(ApplicationsThrottled):
        await desk.apply()
    assert list(desk.state.patrons) == [patron_id]
