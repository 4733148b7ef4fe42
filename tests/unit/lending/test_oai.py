"""OAI-PMH 2.0 without servers: argument checks and errors as the protocol defines them, tokens, and the provider on
an in-memory repository, every answer valid against the official schema."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from lending.domain import oai
from lending.domain.licensing import License, LicenseModel, LicenseTerms
from lending.domain.marc import CatalogueTitle
from lending.domain.network import Library, LibraryKind, LibraryNetwork, Sharing
from lending.domain.oai import ListPosition, OaiError
from lending.service_layer.oai_pmh import OaiConfiguration, OaiProvider
from tests.oai_schema import assert_valid

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
NS = {"o": oai.OAI, "dc": oai.DC, "m": oai.MARC}
BASE = "https://sachso.test/oai"


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({}, "badVerb"),
        ({"verb": ["Dance"]}, "badVerb"),
        ({"verb": ["Identify", "Identify"]}, "badVerb"),
        ({"verb": ["Identify"], "set": ["x"]}, "badArgument"),
        ({"verb": ["GetRecord"], "identifier": ["oai:x:1"]}, "badArgument"),
        ({"verb": ["ListRecords"], "metadataPrefix": ["oai_dc", "marc21"]}, "badArgument"),
        ({"verb": ["ListRecords"], "metadataPrefix": ["oai_dc"], "resumptionToken": ["t"]}, "badArgument"),
        ({"verb": ["ListRecords"], "metadataPrefix": ["oai_dc"], "from": ["2026-01-01"],
          "until": ["2026-02-01T00:00:00Z"]}, "badArgument"),
        ({"verb": ["ListRecords"], "metadataPrefix": ["oai_dc"], "from": ["2026-02-30"]}, "badArgument"),
        ({"verb": ["ListRecords"], "metadataPrefix": ["oai_dc"], "from": ["2026-03-01"], "until": ["2026-02-01"]},
         "badArgument"),
        ({"verb": ["ListIdentifiers"], "metadataPrefix": ["oai_dc"], "until": ["yesterday"]}, "badArgument"),
    ],
)  # fmt: skip
def test_bad_requests(arguments: dict[str, list[str]], code: str) -> None:
    with pytest.raises(OaiError) as refused:
        oai.parse_request(arguments)
    assert refused.value.code == code


def test_windows_and_tokens() -> None:
    assert oai.list_window("2026-01-02", "2026-01-02") == (
        datetime(2026, 1, 2, tzinfo=UTC),
        datetime(2026, 1, 2, 23, 59, 59, tzinfo=UTC),
    )
    position = ListPosition("marc21", "library:daklak", datetime(2026, 1, 1, tzinfo=UTC), None, NOW, "abc", 6)
    assert oai.decode_token(oai.encode_token(position)) == position
    for bad in ("", "!!!", oai.encode_token(replace(position, prefix="mods")), "eyJwIjoxfQ"):
        with pytest.raises(OaiError, match="not one this repository issued"):
            oai.decode_token(bad)


class FakeRecords:
    def __init__(self, titles: list[CatalogueTitle], licences: list[License], network: LibraryNetwork) -> None:
        self.titles = {title.id: title for title in titles}
        self.licences = licences
        self._network = network

    async def network(self) -> LibraryNetwork:
        return self._network

    async def earliest_change(self) -> datetime | None:
        return min((title.added_at for title in self.titles.values() if title.added_at), default=None)

    async def title(self, title_id: str) -> CatalogueTitle | None:
        return self.titles.get(title_id)

    async def title_page(
        self, after: str, limit: int, changed_since: datetime | None, snapshot: datetime
    ) -> list[CatalogueTitle]:
        return [self.titles[key] for key in sorted(self.titles) if key > after][:limit]

    async def licences_of(self, title_ids: list[str]) -> list[License]:
        return [licence for licence in self.licences if licence.title_id in title_ids]


@pytest.fixture
def provider() -> OaiProvider:
    network = LibraryNetwork([
        Library("daklak", "Thư viện tỉnh Đắk Lắk", LibraryKind.PROVINCE),
        Library("tan-lap", "Thư viện phường Tân Lập", LibraryKind.COMMUNE, "daklak"),
        Library("ea-kar", "Thư viện xã Ea Kar", LibraryKind.COMMUNE, "daklak"),
    ])  # fmt: skip
    day = timedelta(days=1)
    titles = [
        CatalogueTitle(f"t{n}", f"Sách {n}", authors=("Tô Hoài",), language="vi", added_at=NOW - 10 * day,
                       changed_at=NOW - (10 - n) * day)
        for n in range(1, 8)
    ]  # fmt: skip
    titles[5] = replace(titles[5], withdrawn=True)  # t6
    titles[6] = replace(titles[6], online_only=True, subjects=("Địa chí Đắk Lắk",))  # t7
    terms = LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=1)
    ended = LicenseTerms(LicenseModel.TIME_LIMITED, concurrency=1, expires_at=NOW - 2 * day)
    licences = [License(f"l{t.id}", t.id, "daklak", Sharing.SUBTREE, terms, NOW - 9 * day) for t in titles[:4]]
    licences.append(License("l5", "t5", "ea-kar", Sharing.OWN, ended, NOW - 9 * day))  # left Ea Kar's set
    licences.append(License("l6", "t6", "tan-lap", Sharing.OWN, terms, NOW - 9 * day))
    records = FakeRecords(titles, licences, network)
    configuration = OaiConfiguration("Sách Số", "admin@sachso.invalid", "sachso.test", "https://sachso.test", "VN", 3)
    return OaiProvider(records, configuration, clock=lambda: NOW)


async def ask(provider: OaiProvider, **arguments: str) -> etree._Element:
    return assert_valid(await provider.respond({k: [v] for k, v in arguments.items()}, BASE))


async def all_headers(provider: OaiProvider, **arguments: str) -> dict[str, str | None]:
    """Identifier and status of every header of a list, following its resumption tokens."""
    headers: dict[str, str | None] = {}
    page = await ask(provider, verb="ListIdentifiers", **arguments)
    while True:
        headers |= {h.findtext("o:identifier", "", NS): h.get("status") for h in page.iterfind(".//o:header", NS)}
        token = page.find(".//o:resumptionToken", NS)
        if token is None or not token.text:
            return headers
        page = await ask(provider, verb="ListIdentifiers", resumptionToken=token.text)


def error_of(root: etree._Element) -> tuple[str, dict[str, str]]:
    error = root.find("o:error", NS)
    assert error is not None
    request = root.find("o:request", NS)
    assert request is not None
    return error.get("code", ""), dict(request.attrib)


async def test_every_verb_answers_valid_oai_pmh(provider: OaiProvider) -> None:
    identify = await ask(provider, verb="Identify")
    assert identify.findtext("o:Identify/o:deletedRecord", namespaces=NS) == "persistent"
    assert identify.findtext("o:Identify/o:earliestDatestamp", namespaces=NS) == "2026-11-15T09:00:00Z"
    formats = await ask(provider, verb="ListMetadataFormats", identifier="oai:sachso.test:t1")
    assert formats.xpath("//o:metadataPrefix/text()", namespaces=NS) == ["oai_dc", "marc21"]
    sets = (await ask(provider, verb="ListSets")).xpath("//o:setSpec/text()", namespaces=NS)
    assert sets == ["library", "library:daklak", "library:ea-kar", "library:tan-lap", "collection",
                    "collection:ebooks", "collection:local-documents"]  # fmt: skip
    record = await ask(provider, verb="GetRecord", identifier="oai:sachso.test:t1", metadataPrefix="oai_dc")
    assert record.findtext(".//dc:title", namespaces=NS) == "Sách 1"
    assert record.xpath("//o:header/o:setSpec/text()", namespaces=NS) == [
        "library:daklak",
        "library:ea-kar",
        "library:tan-lap",
        "collection:ebooks",
    ]
    marc = await ask(provider, verb="GetRecord", identifier="oai:sachso.test:t7", metadataPrefix="marc21")
    assert marc.xpath("//m:datafield[@tag='650']/m:subfield/text()", namespaces=NS) == ["Địa chí Đắk Lắk"]
    deleted = await ask(provider, verb="GetRecord", identifier="oai:sachso.test:t6", metadataPrefix="oai_dc")
    assert deleted.xpath("//o:header/@status", namespaces=NS) == ["deleted"]
    assert deleted.find(".//o:metadata", NS) is None


async def test_lists_page_with_resumption_tokens(provider: OaiProvider) -> None:
    first = await ask(provider, verb="ListIdentifiers", metadataPrefix="oai_dc")
    identifiers = first.xpath("//o:identifier/text()", namespaces=NS)
    token = first.find(".//o:resumptionToken", NS)
    assert token is not None
    assert token.get("cursor") == "0"
    while token is not None and token.text:
        page = await ask(provider, verb="ListIdentifiers", resumptionToken=token.text)
        identifiers += page.xpath("//o:identifier/text()", namespaces=NS)
        token = page.find(".//o:resumptionToken", NS)
    assert identifiers == [f"oai:sachso.test:t{n}" for n in range(1, 8)]
    assert token is not None
    assert token.get("cursor") == "6"  # the last page closes the list with an empty token


async def test_sets_dates_and_deletions(provider: OaiProvider) -> None:
    headers = await all_headers(provider, metadataPrefix="oai_dc", set="library:ea-kar")
    assert headers == {f"oai:sachso.test:t{n}": None for n in range(1, 5)} | {"oai:sachso.test:t5": "deleted"}
    local = await ask(provider, verb="ListRecords", metadataPrefix="oai_dc", set="collection")
    assert len(local.findall(".//o:record", NS)) == 3  # a page; the collection holds them all
    recent = await ask(provider, verb="ListIdentifiers", metadataPrefix="oai_dc", **{"from": "2026-11-20"})
    # t5's licence ended on the 23rd: its datestamp moved; t6 and t7 changed on the 21st and 22nd
    assert recent.xpath("//o:identifier/text()", namespaces=NS) == [
        "oai:sachso.test:t5",
        "oai:sachso.test:t6",
        "oai:sachso.test:t7",
    ]
    assert recent.xpath("//o:header[o:identifier='oai:sachso.test:t5']/o:datestamp/text()", namespaces=NS) == [
        "2026-11-23T09:00:00Z"
    ]


async def test_errors_as_the_protocol_defines_them(provider: OaiProvider) -> None:
    assert error_of(await ask(provider, verb="Dance")) == ("badVerb", {})  # no attributes on badVerb
    assert error_of(await ask(provider, verb="ListRecords")) == ("badArgument", {})
    missing = await ask(provider, verb="GetRecord", identifier="oai:sachso.test:nope", metadataPrefix="oai_dc")
    assert error_of(missing) == (
        "idDoesNotExist",
        {"verb": "GetRecord", "identifier": "oai:sachso.test:nope", "metadataPrefix": "oai_dc"},
    )
    assert error_of(await ask(provider, verb="ListRecords", metadataPrefix="mods"))[0] == "cannotDisseminateFormat"
    assert error_of(await ask(provider, verb="ListRecords", metadataPrefix="oai_dc", set="library:nowhere"))[0] == (
        "noRecordsMatch"
    )
    assert error_of(await ask(provider, verb="ListRecords", resumptionToken="garbage"))[0] == "badResumptionToken"
    assert error_of(await ask(provider, verb="ListSets", resumptionToken="x"))[0] == "badResumptionToken"
    future = await ask(provider, verb="ListRecords", metadataPrefix="oai_dc", **{"from": "2027-01-01"})
    assert error_of(future)[0] == "noRecordsMatch"
