"""The catalogue's search answers, per title, format and availability ("Có sẵn", "Chờ ~N ngày", "Chưa có bản")
for visitors and for a library's patrons, computed with one query per page; filters and pagination."""

from __future__ import annotations

import uuid
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from lending.domain.licensing import LicenseModel, LicenseTerms
from lending.domain.network import Sharing
from lending.service_layer.catalogue import TitleMetadata
from sachso.events.v1 import reader_events_pb2
from tests.integration.lending.conftest import Lending, deployment

Document = dict[str, Any]


class Commands(monitoring.CommandListener):
    """The commands a client sent, by name and collection."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, str(event.command.get(event.command_name, ""))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def ingested(lending: Lending, title: str, media_type: str) -> str:
    """A title as the reader service's PublicationIngested makes it (the consumer's path, format included)."""
    publication = reader_events_pb2.PublicationIngested(
        publication_id=f"pub-{uuid.uuid4().hex[:12]}",
        publisher_id="nxb-tre",
        metadata=reader_events_pb2.PublicationMetadata(title=title, authors=["Tô Hoài"], language="vi"),
        original=reader_events_pb2.StoredFile(media_type=media_type),
    )

    async def work(session: Any, _: Any) -> str:
        return await lending.catalogue.record_publication_in(
            session,
            publication.publication_id,
            TitleMetadata.from_publication(publication.metadata),
            publisher_id=publication.publisher_id,
            readable=True,
            media_type=publication.original.media_type,
        )

    return await lending.outbox.transaction(work)


async def test_search_answers_format_and_availability_for_visitors_and_patrons(
    mongo: AsyncMongoClient[Document], database: AsyncDatabase[Document], stack_env: dict[str, str]
) -> None:
    commands = Commands()
    watched: AsyncMongoClient[Document] = AsyncMongoClient(
        stack_env["SACHSO_MONGO_URI"], retryWrites=False, event_listeners=[commands]
    )
    try:
        async with deployment(watched, watched[database.name]) as lending:
            await check_search(lending, commands)
    finally:
        await watched.close()


async def check_search(lending: Lending, commands: Commands) -> None:
    free = await ingested(lending, "Dế Mèn phiêu lưu ký", "application/epub+zip")
    busy = await ingested(lending, "Đảo hoang", "application/pdf")
    unlicensed = await ingested(lending, "Vợ chồng A Phủ", "application/epub+zip")
    district_only = await ingested(lending, "Miền Tây", "application/epub+zip")
    catalogue = lending.catalogue
    await catalogue.add_license(free, "daklak", LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=2))
    await catalogue.add_license(busy, "daklak", LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=1))
    await catalogue.add_license(
        district_only, "eakar", LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=1), Sharing.OWN
    )
    http = lending.http
    ana = lending.patron_headers(await lending.active_patron("ana"))
    binh = lending.patron_headers(await lending.active_patron("binh"))
    assert (await http.post("/v1/loans", json={"title_id": busy}, headers=ana)).status_code == 201
    assert (await http.post("/v1/holds", json={"title_id": busy}, headers=binh)).status_code == 201

    commands.sent.clear()
    visitor = (await http.get("/v1/titles", params={"q": "to hoai"})).json()
    states = {item["title"]: (item["format"], item["availability"]) for item in visitor["items"]}
    assert states["Dế Mèn phiêu lưu ký"] == ("epub", available(2, 2))
    assert states["Đảo hoang"][0] == "pdf"
    assert states["Đảo hoang"][1]["state"] == "wait"
    assert states["Đảo hoang"][1]["holds"] == 1
    assert states["Đảo hoang"][1]["wait_days"] == 28  # two loan rounds of one copy (the hold ahead, then hers)
    assert states["Vợ chồng A Phủ"][1] == {"copies": 0, "available": 0, "holds": 0, "state": "none", "wait_days": None}
    assert states["Miền Tây"][1]["state"] == "available"  # a visitor: someone in the network can borrow it
    # the page's availability: one aggregation, not a query per title
    licence_reads = [name for name, collection in commands.sent if collection in {"licenses", "holds"}]
    assert licence_reads == ["aggregate"], commands.sent

    for_daklak = (await http.get("/v1/titles", params={"q": "to hoai", "for_library": "daklak"})).json()
    mien_tay = next(item for item in for_daklak["items"] if item["id"] == district_only)
    assert mien_tay["availability"]["state"] == "none"  # Ea Kar lends it to its own patrons only
    for_eakar = (await http.get("/v1/titles", params={"q": "to hoai", "for_library": "eakar"})).json()
    assert next(item for item in for_eakar["items"] if item["id"] == district_only)["availability"]["state"] == (
        "available"
    )

    pdfs = (await http.get("/v1/titles", params={"format": "pdf"})).json()
    assert [item["id"] for item in pdfs["items"]] == [busy]
    assert visitor["facets"]["format"] == {"epub": 3, "pdf": 1}
    now = (await http.get("/v1/titles", params={"available": "true", "for_library": "daklak"})).json()
    assert {item["id"] for item in now["items"]} == {free}
    anyone_now = (await http.get("/v1/titles", params={"available": "true"})).json()
    assert {item["id"] for item in anyone_now["items"]} == {free, district_only}
    first = (await http.get("/v1/titles", params={"q": "to hoai", "size": 3})).json()
    second = (await http.get("/v1/titles", params={"q": "to hoai", "size": 3, "page": 2})).json()
    assert (first["total"], len(first["items"]), len(second["items"])) == (4, 3, 1)
    assert not {item["id"] for item in first["items"]} & {item["id"] for item in second["items"]}

    # one title's page says the same, to a visitor and to a library's patrons
    assert (await http.get(f"/v1/titles/{unlicensed}")).json()["availability"]["state"] == "none"
    assert (await http.get(f"/v1/titles/{busy}")).json()["availability"]["wait_days"] == 28
    assert (await http.get(f"/v1/titles/{district_only}", params={"library": "daklak"})).json()["availability"][
        "state"
    ] == "none"

    unknown = await http.get("/v1/titles", params={"for_library": "atlantis"})
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/library-not-found")
    assert (await http.get("/v1/titles", params={"format": "mobi"})).status_code == 422


def available(copies: int, free: int) -> dict[str, Any]:
    return {"copies": copies, "available": free, "holds": 0, "state": "available", "wait_days": None}
