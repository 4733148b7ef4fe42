"""Lending's gRPC API for other services, and the staff administration endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from drm.adapters.lending_client import LendingClient
from sachso.kit.auth import Role
from sachso.kit.errors import NotFound, PreconditionFailed
from sachso.lending.v1 import lending_service_pb2 as pb
from sachso.lending.v1 import lending_service_pb2_grpc as pb_grpc
from tests.integration.lending.conftest import Lending, lending_grpc_channel

pytestmark = pytest.mark.integration


@pytest.fixture
async def stub(lending: Lending) -> AsyncIterator[pb_grpc.LendingServiceAsyncStub]:
    async with lending_grpc_channel(lending) as channel:
        yield pb_grpc.LendingServiceStub(channel)


async def test_services_ask_about_loans_patrons_and_renewals(
    lending: Lending, stub: pb_grpc.LendingServiceAsyncStub
) -> None:
    title_id = await lending.title_with_copies(copies=1)
    title = await lending.store.titles.find_one({"_id": title_id})
    assert title is not None
    ana = await lending.active_patron("ana")
    loan = await lending.circulation.checkout(ana, title_id)
    service = (("authorization", f"Bearer {lending.issuer.issue('drm', audience='sachso', roles=[Role.SERVICE])}"),)

    active = await stub.GetActiveLoan(
        pb.GetActiveLoanRequest(patron_id=ana, publication_id=title["publication_id"]), metadata=service
    )
    assert active.loan.loan_id == loan.id
    patron = await stub.GetPatron(pb.GetPatronRequest(patron_id=ana), metadata=service)
    assert patron.card_status == pb.CARD_STATUS_ACTIVE
    check = await stub.CheckRenewal(pb.CheckRenewalRequest(loan_id=loan.id), metadata=service)
    assert check.allowed
    renewed = await stub.RenewLoan(pb.RenewLoanRequest(loan_id=loan.id), metadata=service)
    assert renewed.loan.renewals == 1
    by_id = await stub.GetLoan(pb.GetLoanRequest(loan_id=loan.id), metadata=service)
    assert (by_id.loan.patron_id, by_id.loan.online_only) == (ana, False)

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetActiveLoan(pb.GetActiveLoanRequest(patron_id="binh", publication_id="x"), metadata=service)
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND
    patron_token = (("authorization", f"Bearer {lending.issuer.issue(ana, audience='sachso', roles=[Role.PATRON])}"),)
    with pytest.raises(grpc.aio.AioRpcError) as forbidden:
        await stub.GetPatron(pb.GetPatronRequest(patron_id=ana), metadata=patron_token)
    assert forbidden.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as not_a_service:
        await stub.GetLoan(pb.GetLoanRequest(loan_id=loan.id), metadata=patron_token)
    assert not_a_service.value.code() is grpc.StatusCode.PERMISSION_DENIED
    await lending.circulation.return_loan(loan.id)
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await stub.GetLoan(pb.GetLoanRequest(loan_id=loan.id), metadata=service)
    assert ended.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await stub.GetPatron(pb.GetPatronRequest(patron_id=ana))
    assert anonymous.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_admins_create_staff_and_publishers_within_their_reach(lending: Lending) -> None:
    library_admin = await lending.staff_headers("admin.bmt")
    librarian = await lending.staff_headers("thu.bmt")
    school_librarian = {"username": "mai.thpt", "password": "a long school password", "role": "librarian",
                        "library_id": "thpt-bmt"}  # fmt: skip
    assert (await lending.http.post("/v1/staff", json=school_librarian, headers=librarian)).status_code == 403
    created = await lending.http.post("/v1/staff", json=school_librarian, headers=library_admin)
    assert created.status_code == 201, created.text
    elsewhere = {**school_librarian, "username": "x.eakar", "library_id": "eakar"}
    assert (await lending.http.post("/v1/staff", json=elsewhere, headers=library_admin)).status_code == 403
    promoted = {**school_librarian, "username": "boss", "role": "province-admin", "library_id": "buonmathuot"}
    assert (await lending.http.post("/v1/staff", json=promoted, headers=library_admin)).status_code == 403
    taken = await lending.http.post("/v1/staff", json=school_librarian, headers=library_admin)
    assert taken.status_code == 409

    publisher = {"id": "nxb-kim-dong", "name": "NXB Kim Đồng", "secret": "s" * 32}
    assert (await lending.http.post("/v1/publishers", json=publisher, headers=library_admin)).status_code == 403
    admin = await lending.staff_headers("admin.daklak")
    assert (await lending.http.post("/v1/publishers", json=publisher, headers=admin)).status_code == 201
    token = await lending.http.post(
        "/v1/auth/publisher-token", json={"publisher_id": "nxb-kim-dong", "secret": "s" * 32}
    )
    principal = await lending.verifier.verify(token.json()["access_token"])
    assert principal.publisher_id == "nxb-kim-dong"
    assert principal.roles == {Role.PUBLISHER}


async def test_staff_block_renew_cards_and_edit_titles(lending: Lending) -> None:
    ana = await lending.active_patron("ana", library_id="buonmathuot")
    librarian = await lending.staff_headers("thu.bmt")
    other = await lending.staff_headers("lan.eakar")
    title_id = await lending.title_with_copies(copies=1, owner="buonmathuot")  # her library looks after it
    assert (await lending.http.post(f"/v1/libraries/eakar/patrons/{ana}/block", headers=other)).status_code == 404
    assert (await lending.http.post(f"/v1/libraries/buonmathuot/patrons/{ana}/block", headers=other)).status_code == 403
    assert (
        await lending.http.post(f"/v1/libraries/buonmathuot/patrons/{ana}/block", headers=librarian)
    ).status_code == 204
    blocked = await lending.http.post("/v1/loans", json={"title_id": title_id}, headers=lending.patron_headers(ana))
    assert blocked.status_code == 403
    assert blocked.json()["type"].endswith("/card-blocked")
    await lending.http.post(f"/v1/libraries/buonmathuot/patrons/{ana}/unblock", headers=librarian)
    renewed = await lending.http.post(f"/v1/libraries/buonmathuot/patrons/{ana}/renew-card", headers=librarian)
    assert renewed.json()["card_expires_at"] is not None

    edited = await lending.http.put(
        f"/v1/titles/{title_id}",
        json={"title": "Truyện Kiều (bản chú giải)", "authors": ["Nguyễn Du"]},
        headers=librarian,
    )
    assert edited.json()["title"] == "Truyện Kiều (bản chú giải)"
    assert len(await lending.events("TitleUpdated")) == 1


async def test_drm_renews_through_lending_and_lending_refuses_when_someone_waits(lending: Lending) -> None:
    """DRM's gRPC client (used by the License Status Document's renew) against lending's real servicer."""
    async with lending_grpc_channel(lending) as channel:
        client = LendingClient(channel, lending.issuer)  # DRM signs its service tokens; here lending's key
        title_id = await lending.title_with_copies(copies=1)
        ana = await lending.active_patron("ana")
        loan = await lending.circulation.checkout(ana, title_id)
        renewed_until = await client.renew(loan.id)
        assert renewed_until > loan.due_at
        await lending.circulation.place_hold(await lending.active_patron("binh"), title_id)
        with pytest.raises(PreconditionFailed, match="waiting"):
            await client.renew(loan.id)
        with pytest.raises(NotFound):
            await client.renew("no-such-loan")
