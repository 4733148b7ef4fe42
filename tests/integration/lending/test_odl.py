"""Two deployments side by side (their own databases), Đắk Lắk lending to Phú Yên over OPDS 2.0 + ODL: Phú Yên mirrors
the offer and circulates it like a local licence; each of its loans is checked out at Đắk Lắk over HTTP (a real TCP
port), read with a streaming token of Đắk Lắk's DRM (real DRM and lending gRPC servers, DRM in its own database and
bucket), returned early or expired on both sides, and both sides' reports count it. Đắk Lắk withdraws an offer:
no new loans on either side, the running loan runs to its end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import grpc
import httpx
import pytest
from pymongo import AsyncMongoClient

from drm.adapters.lending_client import LendingClient
from drm.adapters.object_store import S3ObjectStore
from drm.entrypoints.grpc_api import DrmServicer
from drm.service_layer.protection import Protection
from lending.adapters.drm_client import DrmClient
from lending.adapters.repositories import mongo_units_of_work
from lending.domain.licensing import LicenseModel, LicenseTerms
from lending.domain.network import Library, LibraryKind
from lending.errors import NoCopyAvailable
from lending.service_layer.catalogue import TitleMetadata
from lending.service_layer.odl_borrowing import OdlSource
from lending.service_layer.reports import Reports
from sachso.drm.v1 import drm_service_pb2 as drm_pb
from sachso.drm.v1 import drm_service_pb2_grpc as drm_pb_grpc
from sachso.kit.auth import Role
from sachso.kit.grpc_server import GrpcServer
from tests.integration.drm.conftest import DrmUnderTest, drm  # noqa: F401 (Đắk Lắk's DRM, here too)
from tests.integration.lending.conftest import Document, Lending, deployment, lending_grpc_channel
from tests.integration.lending.served import served
from tests.official_schemas import validate_response

pytestmark = pytest.mark.integration
PARTNER_SECRET = "phu yen partner secret, long enough"
DAKLAK_READER = "https://reader.daklak.test"
PHU_YEN = [
    (Library("phuyen", "Thư viện tỉnh Phú Yên", LibraryKind.PROVINCE), "PY"),
    (Library("song-cau", "Thư viện phường Sông Cầu", LibraryKind.COMMUNE, "phuyen"), "SC"),
]


@pytest.fixture
async def two(
    lending: Lending, mongo: AsyncMongoClient[Document], namespace: str
) -> AsyncIterator[tuple[Lending, Lending]]:
    """Đắk Lắk (the ``lending`` fixture) served on a TCP port, and Phú Yên (own database) reading its ODL feed."""
    async with served(lending.app) as daklak_url:
        source = OdlSource("daklak", f"{daklak_url}/odl/feed", "phuyen-deployment", PARTNER_SECRET, "phuyen")
        staff = [("admin.phuyen", Role.PROVINCE_ADMIN, "phuyen")]
        database = mongo[f"{namespace}b"]
        try:
            async with deployment(
                mongo, database, network=PHU_YEN, staff=staff, odl_sources={"daklak": source}, name="phuyen"
            ) as phuyen:
                yield lending, phuyen
        finally:
            await mongo.drop_database(database.name)


async def offer_to_phu_yen(daklak: Lending, copies: int = 2) -> tuple[str, str, str]:
    """A title with 3 copies at Đắk Lắk, 2 of them offered to Phú Yên: (title, licence, offer) ids."""
    title_id = await daklak.catalogue.add_title(
        TitleMetadata(title="Truyện Kiều", authors=("Nguyễn Du",), language="vi", subjects=("Thơ",)),
        publication_id="pub-truyen-kieu",
    )
    licence = await daklak.catalogue.add_license(title_id, "daklak", LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, 3))
    admin = await daklak.staff_headers("admin.daklak")
    partner = {"name": "Sách Số Phú Yên", "secret": PARTNER_SECRET}
    assert (await daklak.http.put("/v1/odl/partners/phuyen-deployment", json=partner, headers=admin)).status_code == 204
    body = {"partner_id": "phuyen-deployment", "license_id": licence.id, "copies": copies, "max_loan_days": 14}
    offer = await daklak.http.post("/v1/odl/offers", json=body, headers=admin)
    assert offer.status_code == 201, offer.text
    return title_id, licence.id, offer.json()["id"]


async def mirrored_title(phuyen: Lending) -> str:
    admin = await phuyen.staff_headers("admin.phuyen")
    synced = await phuyen.http.post("/v1/odl/sources/daklak/sync", headers=admin)
    assert synced.json() == {"offers": 1, "new": 1, "withdrawn": 0}, synced.text
    found = (await phuyen.http.get("/v1/titles", params={"q": "truyen kieu"})).json()["items"]
    assert [item["library_ids"] for item in found] == [["phuyen"]]
    return str(found[0]["id"])


async def offer_in_use(daklak: Lending, offer_id: str) -> int:
    offer = await daklak.store.database["odl_offers"].find_one({"_id": offer_id})
    assert offer is not None
    return int(offer["in_use"])


def this_month() -> tuple[datetime, datetime]:
    start = datetime.now(timezone(timedelta(hours=7))).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(UTC), (start + timedelta(days=32)).astimezone(UTC)


async def test_a_patron_of_one_province_borrows_from_the_other(two: tuple[Lending, Lending]) -> None:
    daklak, phuyen = two
    _, licence_id, offer_id = await offer_to_phu_yen(daklak)
    reserved = await daklak.store.license(licence_id)
    assert reserved is not None
    assert reserved.in_use == 2  # the offered copies are reserved: Đắk Lắk's own patrons have one left
    availability = await daklak.catalogue.availability(reserved.title_id, "daklak")
    assert (availability.copies, availability.available) == (3, 1)
    title_id = await mirrored_title(phuyen)

    lan = await phuyen.active_patron("lan", "phuyen")
    minh_id = await phuyen.active_patron("minh", "song-cau")
    hoa_id = await phuyen.active_patron("hoa", "song-cau")
    first = await phuyen.http.post("/v1/loans", json={"title_id": title_id}, headers=phuyen.patron_headers(lan))
    assert first.status_code == 201, first.text
    second = await phuyen.circulation.checkout(minh_id, title_id)
    with pytest.raises(NoCopyAvailable):
        await phuyen.circulation.checkout(hoa_id, title_id)  # two copies, as offered
    await phuyen.circulation.place_hold(hoa_id, title_id)
    assert await phuyen.systems.odl_borrowing.relay_once() == 2  # both checked out at Đắk Lắk
    assert await offer_in_use(daklak, offer_id) == 2
    loan = await phuyen.store.loans.find_one({"_id": first.json()["id"]})
    assert loan is not None
    assert loan["odl"]["state"] == "active"

    returned = await phuyen.http.post(f"/v1/loans/{first.json()['id']}/return", headers=phuyen.patron_headers("lan"))
    assert returned.status_code == 200
    assert [view.hold.state.value for view in await phuyen.circulation.holds_of(hoa_id)] == ["ready"]
    await phuyen.systems.odl_borrowing.relay_once()  # the return reaches Đắk Lắk
    assert await offer_in_use(daklak, offer_id) == 1
    third = await phuyen.circulation.checkout(hoa_id, title_id)  # her ready hold
    await phuyen.systems.odl_borrowing.relay_once()
    assert await offer_in_use(daklak, offer_id) == 2

    start, end = this_month()
    lent = await Reports(mongo_units_of_work(daklak.store, daklak.outbox)).circulation(["daklak"], start, end)
    borrowed = await Reports(mongo_units_of_work(phuyen.store, phuyen.outbox)).circulation(
        ["phuyen", "song-cau"], start, end
    )
    assert sum(row.loans for row in lent) == 3 == sum(row.loans for row in borrowed)
    assert sum(row.unique_borrowers for row in lent) == 3

    # expiry on both sides: Minh's loan reaches its end
    past = datetime.now(UTC) - timedelta(minutes=1)
    await phuyen.store.loans.update_one({"_id": second.id}, {"$set": {"due_at": past}})
    assert await phuyen.circulation.expire_loan(second.id)
    await daklak.store.loans.update_one({"checkout_id": second.id}, {"$set": {"due_at": past}})
    assert await daklak.systems.odl_lending.expire_due() == 1
    assert await offer_in_use(daklak, offer_id) == 1
    await phuyen.systems.odl_borrowing.relay_once()
    expired = await phuyen.store.loans.find_one({"_id": second.id})
    assert expired is not None
    assert expired["odl"]["state"] == "expired"  # Đắk Lắk had ended it at the same time
    remote = await daklak.store.loans.find_one({"checkout_id": third.id})
    assert remote is not None
    assert remote["status"] == "odl-active"


async def test_a_refused_checkout_ends_the_local_loan(two: tuple[Lending, Lending]) -> None:
    daklak, phuyen = two
    _, _, offer_id = await offer_to_phu_yen(daklak, copies=1)
    title_id = await mirrored_title(phuyen)
    await daklak.store.database["odl_offers"].update_one({"_id": offer_id}, {"$set": {"in_use": 1}})  # out of step
    patron = await phuyen.active_patron("lan", "phuyen")
    loan = await phuyen.circulation.checkout(patron, title_id)
    await phuyen.systems.odl_borrowing.relay_once()
    ended = await phuyen.store.loans.find_one({"_id": loan.id})
    assert ended is not None
    assert (ended["status"], ended["odl"]["state"]) == ("returned", "refused")
    assert "every copy offered to you is on loan" in ended["odl"]["reason"]


async def test_who_may_use_odl(two: tuple[Lending, Lending]) -> None:
    daklak, phuyen = two
    _, licence_id, offer_id = await offer_to_phu_yen(daklak)
    async with served(daklak.app) as url, httpx.AsyncClient(base_url=url) as partner:
        assert (await partner.get("/odl/feed")).status_code == 401
        assert (await partner.get("/odl/feed", auth=("phuyen-deployment", "wrong secret"))).status_code == 401
        feed = await partner.get("/odl/feed", auth=("phuyen-deployment", PARTNER_SECRET))
        assert feed.headers["content-type"] == "application/opds+json"
        validate_response(feed)  # an OPDS 2.0 feed by the official schema (ODL's licenses are an extension)
        (publication,) = feed.json()["publications"]
        assert publication["licenses"][0]["metadata"]["terms"] == {"concurrency": 2, "length": 14 * 86400}
        checkout = await partner.post(
            f"/odl/offers/{offer_id}/checkout",
            params={"checkout_id": "c1", "patron_id": "p1"},
            auth=("phuyen-deployment", PARTNER_SECRET),
        )
        assert checkout.status_code == 201
        status = checkout.json()
        assert status["status"] == "active"
        again = await partner.post(
            f"/odl/offers/{offer_id}/checkout",
            params={"checkout_id": "c1", "patron_id": "p1"},
            auth=("phuyen-deployment", PARTNER_SECRET),
        )
        assert again.json()["id"] == status["id"]  # the same checkout, not a second copy
        admin = await daklak.staff_headers("admin.daklak")
        other = {"name": "Another province", "secret": "another partner secret, long"}
        await daklak.http.put("/v1/odl/partners/other-deployment", json=other, headers=admin)
        stranger = ("other-deployment", "another partner secret, long")
        assert (await partner.get("/odl/feed", auth=stranger)).json()["publications"] == []
        assert (await partner.get(f"/odl/offers/{offer_id}", auth=stranger)).status_code == 404
        assert (await partner.get(f"/odl/loans/{status['id']}/status", auth=stranger)).status_code == 404
        assert (await partner.put(f"/odl/loans/{status['id']}/return", auth=stranger)).status_code == 404
        gave_back = await partner.put(f"/odl/loans/{status['id']}/return", auth=("phuyen-deployment", PARTNER_SECRET))
        assert gave_back.json()["status"] == "returned"
    librarian = await daklak.staff_headers("thu.bmt")  # Buôn Ma Thuột's: the licence is the province library's
    offer = {"partner_id": "phuyen-deployment", "license_id": licence_id, "copies": 1}
    assert (await daklak.http.post("/v1/odl/offers", json=offer, headers=librarian)).status_code == 403
    partner_body = {"name": "x", "secret": "a partner secret long enough"}
    assert (await daklak.http.put("/v1/odl/partners/x1", json=partner_body, headers=librarian)).status_code == 403
    patron = phuyen.patron_headers(await phuyen.active_patron("lan", "phuyen"))
    assert (await phuyen.http.post("/v1/odl/sources/daklak/sync", headers=patron)).status_code == 403
    assert (await phuyen.http.post("/v1/odl/sources/daklak/sync")).status_code == 401


@pytest.fixture
async def reading_at_daklak(lending: Lending, drm: DrmUnderTest) -> AsyncIterator[DrmUnderTest]:  # noqa: F811
    """Đắk Lắk's DRM gRPC server (learning loans from Đắk Lắk's lending gRPC server, as it does for a loan asked
    about before its event), and Đắk Lắk's lending asking it for partner loans' streaming tokens."""
    protection = Protection(drm.licences.uow, drm.keys, S3ObjectStore(drm.s3), drm.bucket)
    servicer = DrmServicer(drm.licences, protection)
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        service_names=[drm_pb.DESCRIPTOR.services_by_name["DrmService"].full_name],
        register=lambda s: drm_pb_grpc.add_DrmServiceServicer_to_server(servicer, s),
        verifier=lending.verifier,  # lending's service tokens
    )
    await server.start()
    try:
        async with (
            lending_grpc_channel(lending) as to_lending,
            grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as to_drm,
        ):
            drm.licences.ask_lending = LendingClient(to_lending, lending.issuer).active_loan
            lending.systems.odl_lending.streaming = DrmClient(to_drm, lending.issuer)
            lending.systems.odl_lending.reader_url = DAKLAK_READER
            yield drm
    finally:
        await server.stop(0)


async def test_a_patron_of_one_province_reads_the_others_title(
    two: tuple[Lending, Lending], reading_at_daklak: DrmUnderTest
) -> None:
    daklak, phuyen = two
    title_at_daklak, _, _ = await offer_to_phu_yen(daklak)
    title_id = await mirrored_title(phuyen)
    lan = phuyen.patron_headers(await phuyen.active_patron("lan", "phuyen"))
    loan = (await phuyen.http.post("/v1/loans", json={"title_id": title_id}, headers=lan)).json()

    # she reads at once: the loan is checked out at Đắk Lắk on the spot, not at the relay's next pass
    reading = await phuyen.http.post(f"/v1/odl/loans/{loan['id']}/streaming-token", headers=lan)
    assert reading.status_code == 200, reading.text
    body = reading.json()
    remote = await daklak.store.loans.find_one({"checkout_id": loan["id"]})
    assert remote is not None
    assert body["loan_id"] == remote["_id"]
    assert body["manifest_url"] == f"{DAKLAK_READER}/v1/read/{body['token']}/manifest.json"
    token = await reading_at_daklak.verifier.verify(body["token"])  # what Đắk Lắk's reader checks
    assert (token.claims["pub"], token.claims["loan"]) == ("pub-truyen-kieu", remote["_id"])
    assert token.subject == remote["patron_id"]
    assert "lan" not in token.subject  # Đắk Lắk never learns who she is
    assert datetime.fromisoformat(body["expires_at"]) <= remote["due_at"].replace(tzinfo=UTC)
    assert await phuyen.systems.odl_borrowing.relay_once() == 0  # nothing left for the relay to check out

    # nobody else reads her loan; a local loan is not an ODL loan
    minh = phuyen.patron_headers(await phuyen.active_patron("minh", "song-cau"))
    assert (await phuyen.http.post(f"/v1/odl/loans/{loan['id']}/streaming-token", headers=minh)).status_code == 404
    local = await phuyen.title_with_copies("Sách của Phú Yên", owner="phuyen")
    own = (await phuyen.http.post("/v1/loans", json={"title_id": local}, headers=minh)).json()
    assert (await phuyen.http.post(f"/v1/odl/loans/{own['id']}/streaming-token", headers=minh)).status_code == 404
    assert (await phuyen.http.post(f"/v1/odl/loans/{loan['id']}/streaming-token")).status_code == 401

    # she returns it: Đắk Lắk publishes LoanReturned (its DRM and reader end the loan's tokens), no more tokens
    await phuyen.http.post(f"/v1/loans/{loan['id']}/return", headers=lan)
    await phuyen.systems.odl_borrowing.relay_once()
    (returned,) = await daklak.events("LoanReturned")
    assert returned["key"] == title_at_daklak
    ended = await phuyen.http.post(f"/v1/odl/loans/{loan['id']}/streaming-token", headers=lan)
    assert ended.status_code == 409


async def test_a_withdrawn_offer_lends_no_more_but_its_loans_run_on(
    two: tuple[Lending, Lending], reading_at_daklak: DrmUnderTest
) -> None:
    daklak, phuyen = two
    title_at_daklak, _, offer_id = await offer_to_phu_yen(daklak)
    title_id = await mirrored_title(phuyen)
    lan = await phuyen.active_patron("lan", "phuyen")
    running = await phuyen.circulation.checkout(lan, title_id)
    await phuyen.systems.odl_borrowing.relay_once()

    librarian = await daklak.staff_headers("thu.bmt")  # the licence is the province library's
    assert (await daklak.http.delete(f"/v1/odl/offers/{offer_id}", headers=librarian)).status_code == 403
    admin = await daklak.staff_headers("admin.daklak")
    withdrawn = await daklak.http.delete(f"/v1/odl/offers/{offer_id}", headers=admin)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["in_use"] == 1
    again = await daklak.http.delete(f"/v1/odl/offers/{offer_id}", headers=admin)
    assert again.json()["withdrawn_at"] == withdrawn.json()["withdrawn_at"]  # withdrawing twice changes nothing
    availability = await daklak.catalogue.availability(title_at_daklak, "daklak")
    assert availability.available == 2  # the free offered copy is Đắk Lắk's again; the one on loan is not yet

    synced = await phuyen.http.post("/v1/odl/sources/daklak/sync", headers=await phuyen.staff_headers("admin.phuyen"))
    assert synced.json() == {"offers": 0, "new": 0, "withdrawn": 1}
    hoa = await phuyen.active_patron("hoa", "phuyen")
    with pytest.raises(NoCopyAvailable):
        await phuyen.circulation.checkout(hoa, title_id)
    reading = await phuyen.http.post(f"/v1/odl/loans/{running.id}/streaming-token", headers=phuyen.patron_headers(lan))
    assert reading.status_code == 200, reading.text  # the running loan is still read

    async with served(daklak.app) as url, httpx.AsyncClient(base_url=url) as partner:
        auth = ("phuyen-deployment", PARTNER_SECRET)
        assert (await partner.get("/odl/feed", auth=auth)).json()["publications"] == []
        info = await partner.get(f"/odl/offers/{offer_id}", auth=auth)
        assert info.json()["status"] == "unavailable"
        refused = await partner.post(
            f"/odl/offers/{offer_id}/checkout", params={"checkout_id": "c9", "patron_id": "p9"}, auth=auth
        )
        assert refused.status_code == 409
        assert "withdrew" in refused.json()["detail"]

    await phuyen.circulation.return_loan(running.id)
    await phuyen.systems.odl_borrowing.relay_once()
    assert (await daklak.catalogue.availability(title_at_daklak, "daklak")).available == 3  # all back home
    assert await offer_in_use(daklak, offer_id) == 0
