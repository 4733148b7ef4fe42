"""ILS sign-in (SIP2) on fakes: linking, re-checking a linked card at every sign-in, blocks from the ILS and from
staff, throttling before the ILS is asked, and a clear answer when the ILS is down."""

from __future__ import annotations

import pytest

from lending.domain.patrons import CardStatus
from lending.errors import CardBlockedInIls, IlsNotConfigured, SignInFailed, SignInLocked
from lending.service_layer.ils_sign_in import IlsConnection, IlsSignIn, IlsUnavailable
from sachso.kit.auth import TokenIssuer
from tests.unit.lending.ils_fakes import BLOCKED, OPEN, FakeCardBlocks, FakeIls, FakeIlsPatrons, FakeThrottle

ISSUER = TokenIssuer.generate("sachso-lending")


@pytest.fixture
def patrons() -> FakeIlsPatrons:
    patrons = FakeIlsPatrons()
    patrons.connections["daklak"] = IlsConnection("daklak", "ils.daklak.test", 6001, "DLK")
    return patrons


@pytest.fixture
def ils() -> FakeIls:
    return FakeIls({"DL1": ("1234", "Nguyễn Thị Hoa", "Hoa@Example.vn", OPEN)})


@pytest.fixture
def blocks(patrons: FakeIlsPatrons) -> FakeCardBlocks:
    return FakeCardBlocks(patrons)


@pytest.fixture
def sign_in(patrons: FakeIlsPatrons, ils: FakeIls, blocks: FakeCardBlocks) -> IlsSignIn:
    return IlsSignIn(patrons, ils, ISSUER, blocks=blocks, throttle=FakeThrottle())


async def test_the_first_sign_in_links_the_card_once(sign_in: IlsSignIn, patrons: FakeIlsPatrons) -> None:
    first = await sign_in.sign_in("daklak", " DL1 ", "1234")
    again = await sign_in.sign_in("daklak", "DL1", "1234")
    assert first.access_token
    assert again.access_token
    assert not again.refresh_token
    (patron,) = patrons.patrons.values()
    assert (patron.display_name, patron.email, patron.status) == ("Nguyễn Thị Hoa", "hoa@example.vn", CardStatus.ACTIVE)
    with pytest.raises(IlsNotConfigured):
        await sign_in.sign_in("eakar", "DL1", "1234")


async def test_a_linked_card_blocked_in_the_ils_is_blocked_here_until_the_ils_lifts_it(
    sign_in: IlsSignIn, patrons: FakeIlsPatrons, ils: FakeIls, blocks: FakeCardBlocks
) -> None:
    await sign_in.sign_in("daklak", "DL1", "1234")
    ils.cards["DL1"] = ("1234", "Nguyễn Thị Hoa", "", BLOCKED)
    with pytest.raises(CardBlockedInIls, match="charge privileges denied"):
        await sign_in.sign_in("daklak", "DL1", "1234")
    assert blocks.blocked == ["p1"]
    assert patrons.patrons["p1"].status is CardStatus.BLOCKED
    with pytest.raises(CardBlockedInIls):
        await sign_in.sign_in("daklak", "DL1", "1234")
    assert blocks.blocked == ["p1"]  # blocked once
    ils.cards["DL1"] = ("1234", "Nguyễn Thị Hoa", "", OPEN)
    assert (await sign_in.sign_in("daklak", "DL1", "1234")).access_token
    assert (blocks.unblocked, patrons.patrons["p1"].status) == (["p1"], CardStatus.ACTIVE)


async def test_a_block_set_by_staff_stays(sign_in: IlsSignIn, patrons: FakeIlsPatrons, blocks: FakeCardBlocks) -> None:
    await sign_in.sign_in("daklak", "DL1", "1234")
    await blocks.block_card("p1")  # staff, here
    with pytest.raises(CardBlockedInIls, match="at Sách Số"):
        await sign_in.sign_in("daklak", "DL1", "1234")
    assert blocks.unblocked == []


async def test_a_card_blocked_in_the_ils_before_its_first_sign_in_is_not_linked(
    sign_in: IlsSignIn, patrons: FakeIlsPatrons, ils: FakeIls
) -> None:
    ils.cards["DL2"] = ("5678", "Trần Văn Bình", "", BLOCKED)
    with pytest.raises(CardBlockedInIls):
        await sign_in.sign_in("daklak", "DL2", "5678")
    assert patrons.patrons == {}


async def test_wrong_pins_are_throttled_before_the_ils_is_asked(sign_in: IlsSignIn, ils: FakeIls) -> None:
    for _ in range(3):
        with pytest.raises(SignInFailed):
            await sign_in.sign_in("daklak", "DL1", "0000", client="10.0.0.9")
    with pytest.raises(SignInLocked):
        await sign_in.sign_in("daklak", "DL1", "1234", client="10.0.0.9")
    assert ils.asked == 3
    assert (await sign_in.sign_in("daklak", "DL1", "1234", client="10.0.0.10")).access_token  # another client


async def test_an_ils_that_does_not_answer(sign_in: IlsSignIn, ils: FakeIls, patrons: FakeIlsPatrons) -> None:
    ils.down = True
    with pytest.raises(IlsUnavailable, match=r"ils\.daklak\.test:6001") as refused:
        await sign_in.sign_in("daklak", "DL1", "1234")
    assert (refused.value.status, refused.value.problem) == (503, "ils-unavailable")
    assert patrons.patrons == {}
