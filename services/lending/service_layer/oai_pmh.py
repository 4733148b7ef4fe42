"""The OAI-PMH 2.0 provider: the catalogue harvested by union catalogues, ILSs and the national library.

Every response is built by :mod:`lending.domain.oai`; this module finds the records: their datestamps (the last
change of metadata, licences or withdrawal), their sets (libraries whose patrons can borrow the title, and the
collection) and whether they are deleted, then pages through them in title-id order with stateless resumption tokens.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from lending.adapters.marc_io import record_element
from lending.domain import oai
from lending.domain.library_catalogue import licence_listed
from lending.domain.licensing import License, serves
from lending.domain.marc import CatalogueTitle, ExportContext, title_record
from lending.domain.network import LibraryNetwork
from lending.domain.oai import ListPosition, OaiError, OaiRecord, OaiRequest
from lending.service_layer.clock import Clock, system_clock

SCAN_BATCH = 200


class OaiRepository(Protocol):
    async def network(self) -> LibraryNetwork: ...

    async def earliest_change(self) -> datetime | None: ...

    async def title(self, title_id: str) -> CatalogueTitle | None: ...

    async def title_page(
        self, after: str, limit: int, changed_since: datetime | None, snapshot: datetime
    ) -> list[CatalogueTitle]:
        """Titles with ids after ``after``, in id order; with ``changed_since``, only those changed since then or
        with a licence that ended between then and ``snapshot`` (a superset is fine: datestamps decide)."""

    async def licences_of(self, title_ids: list[str]) -> list[License]: ...


@dataclass(frozen=True)
class OaiConfiguration:
    repository_name: str
    admin_email: str
    repository_identifier: str  # the domain in oai:{domain}:{title id}
    web_app_url: str
    organisation: str
    page_size: int = 100


class OaiProvider:
    def __init__(self, repository: OaiRepository, configuration: OaiConfiguration, clock: Clock = system_clock) -> None:
        self.repository = repository
        self.configuration = configuration
        self.clock = clock

    async def respond(self, arguments: Mapping[str, Sequence[str]], base_url: str) -> bytes:
        """The XML answer to any request, errors included (always HTTP 200, as the protocol says)."""
        now = self.clock()
        try:
            request = oai.parse_request(arguments)
        except OaiError as error:  # badVerb, badArgument: the request element carries no arguments
            return oai.response(base_url, now, None, oai.error_elements([error]))
        try:
            body = await self._answer(request, base_url, now)
        except OaiError as error:
            return oai.response(base_url, now, request, oai.error_elements([error]))
        return oai.response(base_url, now, request, body)

    async def _answer(self, request: OaiRequest, base_url: str, now: datetime) -> ElementTree.Element:
        repository = self.configuration.repository_identifier
        if request.verb == "Identify":
            earliest = await self.repository.earliest_change() or oai.EPOCH
            return oai.identify_element(
                self.configuration.repository_name, base_url, self.configuration.admin_email, earliest, repository, ""
            )
        if request.verb == "ListMetadataFormats":
            if "identifier" in request.arguments:
                await self._title(request.arguments["identifier"])
            return oai.metadata_formats_element()
        if request.verb == "ListSets":
            if "resumptionToken" in request.arguments:
                raise OaiError("badResumptionToken", "the list of sets is complete in one response")
            return oai.sets_element(await self._sets())
        if request.verb == "GetRecord":
            _check_format(request.prefix)
            title = await self._title(request.arguments["identifier"])
            network = await self.repository.network()
            licences = await self.repository.licences_of([title.id])
            record = _record(title, licences, network, now, None)
            assert record is not None
            return oai.get_record_element(
                repository, self._with_metadata(record, title, request.prefix, None, network), request.prefix
            )
        return await self._list(request, now)

    async def _title(self, oai_identifier: str) -> CatalogueTitle:
        title = await self.repository.title(oai.title_id_of(self.configuration.repository_identifier, oai_identifier))
        if title is None:
            raise OaiError("idDoesNotExist", f"no record {oai_identifier}")
        return title

    async def _sets(self) -> list[tuple[str, str]]:
        network = await self.repository.network()
        sets = [(oai.LIBRARY_SETS, "Thư viện (libraries)")]
        sets += [(oai.library_set(lib.id), lib.name) for lib in sorted(network.libraries, key=lambda lib: lib.id)]
        sets.append((oai.COLLECTION_SETS, "Bộ sưu tập (collections)"))
        sets += [(oai.collection_set(name), title) for name, title in oai.COLLECTIONS.items()]
        return sets

    async def _list(self, request: OaiRequest, now: datetime) -> ElementTree.Element:
        if "resumptionToken" in request.arguments:
            position = oai.decode_token(request.arguments["resumptionToken"])
        else:
            _check_format(request.prefix)
            start, end = oai.list_window(request.arguments.get("from"), request.arguments.get("until"))
            position = ListPosition(request.prefix, request.arguments.get("set"), start, end, snapshot=now)
        network = await self.repository.network()
        page, more = await self._page(position, network)
        if not page:
            if position.cursor == 0:
                raise OaiError("noRecordsMatch", "no records match these arguments")
            raise OaiError("badResumptionToken", "the list this token continued has changed; harvest again")
        titles = {title.id: title for title in await self.repository_titles([record.title_id for record in page])}
        records = [
            self._with_metadata(record, titles[record.title_id], position.prefix, position.set_spec, network)
            for record in page
        ]
        token: str | None = None
        if more:
            token = oai.encode_token(replace(position, after=page[-1].title_id, cursor=position.cursor + len(page)))
        elif position.cursor:
            token = ""  # the last page of a list that was resumed
        return oai.list_element(
            request.verb, self.configuration.repository_identifier, records, position.prefix, token, position.cursor
        )

    async def repository_titles(self, title_ids: list[str]) -> list[CatalogueTitle]:
        found = [await self.repository.title(title_id) for title_id in title_ids]
        return [title for title in found if title is not None]

    async def _page(self, position: ListPosition, network: LibraryNetwork) -> tuple[list[OaiRecord], bool]:
        """Up to a page of matching records after ``position``, and whether more follow."""
        size = self.configuration.page_size
        matches: list[OaiRecord] = []
        after = position.after
        while len(matches) <= size:
            batch = await self.repository.title_page(after, SCAN_BATCH, position.start, position.snapshot)
            if not batch:
                break
            licences = await self.repository.licences_of([title.id for title in batch])
            by_title: dict[str, list[License]] = {}
            for licence in licences:
                by_title.setdefault(licence.title_id, []).append(licence)
            for title in batch:
                record = _record(title, by_title.get(title.id, []), network, position.snapshot, position.set_spec)
                stamp = oai.to_second(record.datestamp) if record else None
                if (
                    record is not None
                    and stamp is not None
                    and (position.start is None or stamp >= position.start)
                    and (position.end is None or stamp <= position.end)
                    and stamp <= oai.to_second(position.snapshot)
                ):
                    matches.append(record)
                    if len(matches) > size:
                        break
            after = batch[-1].id
        return matches[:size], len(matches) > size

    def _with_metadata(
        self, record: OaiRecord, title: CatalogueTitle, prefix: str, set_spec: str | None, network: LibraryNetwork
    ) -> OaiRecord:
        if record.deleted:
            return record
        link = f"{self.configuration.web_app_url}/#/title/{title.id}"
        if prefix == "marc21":
            library_name = self.configuration.repository_name
            if set_spec and set_spec.startswith(oai.LIBRARY_SETS + ":"):
                library_name = network.get(set_spec.split(":", 1)[1]).name
            context = ExportContext(self.configuration.organisation, self.configuration.web_app_url, library_name)
            return replace(record, marc=record_element(title_record(title, context)))
        dublin_core = {
            "title": [f"{title.title}: {title.subtitle}" if title.subtitle else title.title],
            "creator": list(title.authors),
            "subject": list(title.subjects),
            "description": [title.description],
            "publisher": [title.publisher],
            "type": ["Text"],
            "identifier": [link, *([f"urn:isbn:{title.isbn}"] if title.isbn else [])],
            "language": [title.language] if title.language != "und" else [],
            "rights": ["Chỉ đọc trực tuyến với thẻ bạn đọc" if title.online_only else "Mượn với thẻ bạn đọc"],
        }
        return replace(record, dublin_core=dublin_core)


def _check_format(prefix: str) -> None:
    if prefix not in oai.METADATA_FORMATS:
        raise OaiError("cannotDisseminateFormat", f"{prefix} is not a format of this repository (oai_dc, marc21)")


def _record(
    title: CatalogueTitle, licences: list[License], network: LibraryNetwork, snapshot: datetime, set_spec: str | None
) -> OaiRecord | None:
    """The title as a record of the list ``set_spec`` (None: the whole repository), or None when not in it."""
    listed_in = sorted(
        library.id
        for library in network.libraries
        if any(licence_listed(lic, snapshot) and serves(network, lic, library.id) for lic in licences)
        or library.id in title.holding_library_ids  # a local document is in the sets of the libraries holding it
    )
    local = title.local_document or title.online_only
    collection = oai.collection_set("local-documents" if local else "ebooks")
    sets = (*(oai.library_set(library_id) for library_id in listed_in), collection)
    passed = [lic.acquired_at for lic in licences if lic.acquired_at <= snapshot]
    passed += [lic.terms.expires_at for lic in licences if lic.terms.expires_at and lic.terms.expires_at <= snapshot]
    stamp = oai.later(title.changed_at, title.added_at, *passed)
    deleted = title.withdrawn
    if set_spec is not None and not oai.in_set(sets, set_spec):
        once = set_spec.startswith(oai.LIBRARY_SETS + ":") and any(
            lic.acquired_at <= snapshot and serves(network, lic, set_spec.split(":", 1)[1])
            for lic in licences
            if set_spec.split(":", 1)[1] in network
        )
        if not once:
            return None
        deleted, sets = True, (set_spec,)  # it left this library's set: a deleted record there
    return OaiRecord(title.id, stamp, sets, deleted)
