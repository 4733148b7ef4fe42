"""The OAI-PMH 2.0 provider against the real MongoDB-protocol server, served over TCP and harvested completely by an
independent harvester (sickle); every response it received is valid against the official OAI-PMH schema."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sickle import Sickle
from sickle.models import Record

from lending.domain.licensing import License, LicenseModel, LicenseTerms
from lending.domain.network import Sharing
from lending.service_layer.catalogue import TitleMetadata
from tests.integration.lending.conftest import Lending
from tests.integration.lending.served import served
from tests.oai_schema import assert_valid

pytestmark = pytest.mark.integration


class RecordingSickle(Sickle):  # type: ignore[misc]  # sickle has no type hints
    """sickle, keeping every raw response it received."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint, max_retries=0, timeout=30)
        self.responses: list[bytes] = []

    def harvest(self, **kwargs: Any) -> Any:
        response = super().harvest(**kwargs)
        self.responses.append(response.http_response.content)
        return response


async def catalogue(lending: Lending) -> dict[str, str]:
    """Seven titles: five lent by the province to all, one withdrawn, one whose Ea Kar licence has ended."""
    titles: dict[str, str] = {}
    now = datetime.now(UTC)
    for name in ("Truyện Kiều", "Tắt đèn", "Số đỏ", "Vợ nhặt", "Chí Phèo", "Bỉ vỏ", "Đất rừng phương Nam"):
        metadata = TitleMetadata(title=name, authors=("Tác giả Việt",), subjects=("Văn học Việt Nam",), language="vi")
        titles[name] = await lending.catalogue.add_title(metadata, publication_id=f"pub-{len(titles)}")
    terms = LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=1)
    for name in ("Truyện Kiều", "Tắt đèn", "Số đỏ", "Vợ nhặt", "Chí Phèo", "Bỉ vỏ"):
        await lending.catalogue.add_license(titles[name], "daklak", terms)
    ended = LicenseTerms(LicenseModel.TIME_LIMITED, concurrency=1, expires_at=now - timedelta(seconds=1))
    await lending.store.add_license(
        License("ended", titles["Đất rừng phương Nam"], "eakar", Sharing.OWN, ended, now - timedelta(days=30))
    )
    publication = (await lending.catalogue.title(titles["Bỉ vỏ"]))["publication_id"]
    await lending.outbox.transaction(lambda session, _: lending.catalogue.withdraw_publication_in(session, publication))
    return titles


async def test_harvested_completely_by_sickle_and_valid(lending: Lending) -> None:
    titles = await catalogue(lending)
    oai_id = {title_id: f"oai:sachso.test:{title_id}" for title_id in titles.values()}
    async with served(lending.app) as base:
        harvester = RecordingSickle(f"{base}/oai")

        def harvest() -> dict[str, list[Record]]:
            return {
                "all": list(harvester.ListRecords(metadataPrefix="oai_dc", ignore_deleted=False)),
                "marc": list(harvester.ListRecords(metadataPrefix="marc21", ignore_deleted=False)),
                "eakar": list(
                    harvester.ListRecords(metadataPrefix="oai_dc", set="library:eakar", ignore_deleted=False)
                ),
                "ids": list(harvester.ListIdentifiers(metadataPrefix="oai_dc", ignore_deleted=False)),
                "sets": list(harvester.ListSets()),
                "formats": list(harvester.ListMetadataFormats()),
                "identify": [harvester.Identify()],
                "one": [harvester.GetRecord(identifier=oai_id[titles["Truyện Kiều"]], metadataPrefix="oai_dc")],
            }

        harvested = await asyncio.to_thread(harvest)
    assert len(harvester.responses) >= 12  # page size 3: every list spans pages
    for document in harvester.responses:
        assert_valid(document)

    everything = {record.header.identifier: record for record in harvested["all"]}
    assert set(everything) == set(oai_id.values())  # every title, across three pages
    withdrawn = everything[oai_id[titles["Bỉ vỏ"]]]
    assert withdrawn.header.deleted
    kieu = everything[oai_id[titles["Truyện Kiều"]]]
    assert kieu.metadata["title"] == ["Truyện Kiều"]
    assert kieu.metadata["identifier"][0] == f"https://sachso.test/#/title/{titles['Truyện Kiều']}"
    assert "library:thpt-bmt" in kieu.header.setSpecs  # the province's pool serves every library
    in_order = [record.header.identifier for record in harvested["all"]]
    assert [header.identifier for header in harvested["ids"]] == in_order
    assert {r.header.identifier for r in harvested["marc"] if not r.header.deleted} == set(oai_id.values()) - {
        oai_id[titles["Bỉ vỏ"]]
    }
    eakar = {record.header.identifier: record.header.deleted for record in harvested["eakar"]}
    assert eakar[oai_id[titles["Đất rừng phương Nam"]]] is True  # its licence for Ea Kar ended: deleted there
    assert eakar[oai_id[titles["Bỉ vỏ"]]] is True
    assert sum(1 for deleted in eakar.values() if not deleted) == 5
    assert {s.setSpec for s in harvested["sets"]} >= {"library:daklak", "library:eakar", "collection:ebooks"}
    assert [f.metadataPrefix for f in harvested["formats"]] == ["oai_dc", "marc21"]
    assert harvested["identify"][0].deletedRecord == "persistent"
    assert harvested["one"][0].metadata["language"] == ["vi"]


async def test_incremental_harvest_and_errors_over_http(lending: Lending) -> None:
    titles = await catalogue(lending)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    await lending.store.titles.update_many({}, {"$set": {"changed_at": long_ago, "added_at": long_ago}})
    await lending.store.licenses.update_many({}, {"$set": {"acquired_at": long_ago}})
    edited = datetime(2021, 6, 1, tzinfo=UTC)
    await lending.store.titles.update_one({"_id": titles["Số đỏ"]}, {"$set": {"changed_at": edited}})

    async def identifiers(**window: str) -> set[str]:
        query = {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", **window}
        found: set[str] = set()
        while True:
            page = assert_valid((await lending.http.get("/oai", params=query)).content)
            found |= set(page.xpath("//*[local-name()='identifier']/text()"))
            token = page.xpath("//*[local-name()='resumptionToken']/text()")
            if not token:
                return {identifier.rsplit(":", 1)[1] for identifier in found}
            query = {"verb": "ListIdentifiers", "resumptionToken": token[0]}

    ended = titles["Đất rừng phương Nam"]  # its licence ended a second ago: that is its datestamp
    assert await identifiers(**{"from": "2021-01-01"}) == {titles["Số đỏ"], ended}
    assert await identifiers(until="2020-12-31") == set(titles.values()) - {titles["Số đỏ"], ended}
    second = "2021-06-01T00:00:00Z"
    assert await identifiers(**{"from": second, "until": second}) == {titles["Số đỏ"]}  # inclusive, to the second
    nothing = await lending.http.get(
        "/oai", params={"verb": "ListRecords", "metadataPrefix": "oai_dc", "until": "2019-12-31"}
    )
    assert b'code="noRecordsMatch"' in nothing.content
    assert nothing.status_code == 200
    assert nothing.headers["content-type"].startswith("text/xml")
    posted = await lending.http.post(
        "/oai", content=b"verb=Identify", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert b"<repositoryName>" in posted.content
    assert_valid(posted.content)
    for params in (
        {"verb": "Nope"},
        {"verb": "GetRecord", "identifier": "x"},
        {"verb": "ListSets", "resumptionToken": "z"},
    ):
        assert_valid((await lending.http.get("/oai", params=params)).content)


async def test_anyone_may_harvest_and_nothing_private_is_in_it(lending: Lending) -> None:
    titles = await catalogue(lending)
    patron = await lending.active_patron("ana")
    await lending.circulation.checkout(patron, titles["Truyện Kiều"])
    staff = await lending.staff_headers("admin.daklak")
    for headers in ({}, lending.patron_headers(patron), staff):  # the same public answer for everyone
        answer = await lending.http.get(
            "/oai", params={"verb": "ListRecords", "metadataPrefix": "marc21"}, headers=headers
        )
        assert answer.status_code == 200
        assert_valid(answer.content)
        assert b"ana" not in answer.content
        assert b"Ana" not in answer.content
    refused = await lending.http.put("/oai", content=b"verb=Identify")
    assert refused.status_code == 405


async def test_local_documents_are_a_set_harvested_like_the_rest(lending: Lending) -> None:
    titles = await catalogue(lending)
    now = datetime.now(UTC)
    for document_id, name, withdrawn in (
        ("doc-dinh-lac", "Sắc phong đình Lạc Giao", False),
        ("doc-old", "Địa bạ", True),
    ):
        await lending.store.titles.insert_one(  # as lending records a published local document (issue 16)
            {
                "_id": f"title-{document_id}", "publication_id": document_id, "title": name,
                "authors": ["Thư viện huyện Ea Kar"], "language": "vi", "subjects": ["Địa chí Đắk Lắk"],
                "library_ids": ["eakar"], "local_document": True, "open_access": True, "readable": True,
                "withdrawn": withdrawn, "added_at": now, "changed_at": now,
            }
        )  # fmt: skip
    async with served(lending.app) as base:
        harvester = RecordingSickle(f"{base}/oai")

        def harvest() -> dict[str, list[Record]]:
            return {
                name: list(harvester.ListRecords(metadataPrefix=prefix, set=spec, ignore_deleted=False))
                for name, prefix, spec in (
                    ("local", "oai_dc", "collection:local-documents"),
                    ("local-marc", "marc21", "collection:local-documents"),
                    ("ebooks", "oai_dc", "collection:ebooks"),
                    ("eakar", "oai_dc", "library:eakar"),
                    ("bmt", "oai_dc", "library:buonmathuot"),
                )
            }

        harvested = await asyncio.to_thread(harvest)
    for document in harvester.responses:
        assert_valid(document)
    local = {record.header.identifier.rsplit(":", 1)[1]: record for record in harvested["local"]}
    assert set(local) == {"title-doc-dinh-lac", "title-doc-old"}
    assert local["title-doc-old"].header.deleted
    found = local["title-doc-dinh-lac"]
    assert found.metadata["title"] == ["Sắc phong đình Lạc Giao"]
    assert set(found.header.setSpecs) == {"collection:local-documents", "library:eakar"}
    assert [r.header.identifier.endswith("doc-dinh-lac") for r in harvested["local-marc"] if not r.header.deleted] == [
        True
    ]
    ebooks = {record.header.identifier.rsplit(":", 1)[1] for record in harvested["ebooks"]}
    assert ebooks == set(titles.values())  # the e-books, and no local document
    assert "title-doc-dinh-lac" in {record.header.identifier.rsplit(":", 1)[1] for record in harvested["eakar"]}
    assert "title-doc-dinh-lac" not in {record.header.identifier.rsplit(":", 1)[1] for record in harvested["bmt"]}
