"""OAI-PMH 2.0 without I/O: requests checked as the protocol defines them, datestamps, resumption tokens, and the
XML of every response (https://www.openarchives.org/OAI/openarchivesprotocol.html).

- **Verbs**: Identify, ListMetadataFormats, ListSets, GetRecord, ListIdentifiers, ListRecords.
- **Formats**: ``oai_dc`` (unqualified Dublin Core) and ``marc21`` (MARCXML, the records of :mod:`lending.domain.marc`).
- **Sets**: ``library:{id}`` (the titles the library's patrons can borrow), below ``library``; ``collection:ebooks``
  and ``collection:local-documents`` (digitised local documents, in the sets of the libraries holding them, and
  read-online-only rare titles), below ``collection``.
- **Datestamps** to the second, UTC. A record's datestamp is its last change: metadata, a licence acquired, a licence
  ended, the title withdrawn.
- **Deleted records**: ``persistent``. A title withdrawn by its publisher stays as a deleted record forever; a title
  that left a library's set (its last licence serving the library ended) is a deleted record in that set.
- **Resumption tokens**: opaque, stateless (the request's arguments, the last identifier returned and the moment the
  list started, so every page of one list sees the same datestamps); they do not expire.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
MARC = "http://www.loc.gov/MARC21/slim"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
for _prefix, _uri in (("", OAI), ("oai_dc", OAI_DC), ("dc", DC), ("marc", MARC), ("xsi", XSI)):
    ElementTree.register_namespace(_prefix, _uri)

METADATA_FORMATS = {
    "oai_dc": ("http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC),
    "marc21": ("http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd", MARC),
}
VERBS = ("Identify", "ListMetadataFormats", "ListSets", "GetRecord", "ListIdentifiers", "ListRecords")
_ARGUMENTS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {  # verb: (required, optional)
    "Identify": (frozenset(), frozenset()),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"})),
    "ListSets": (frozenset(), frozenset({"resumptionToken"})),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset()),
    "ListIdentifiers": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set", "resumptionToken"})),
    "ListRecords": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set", "resumptionToken"})),
}
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LIBRARY_SETS = "library"
COLLECTION_SETS = "collection"
COLLECTIONS = {
    "ebooks": "Sách điện tử (e-books)",
    "local-documents": "Tài liệu địa chí (local documents: digitised, or read online only)",
}


class OaiError(Exception):
    """An OAI-PMH error condition: answered with HTTP 200 and an ``error`` element, never a problem document."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class OaiRequest:
    verb: str
    arguments: Mapping[str, str]

    @property
    def prefix(self) -> str:
        return self.arguments.get("metadataPrefix", "")


@dataclass(frozen=True)
class ListPosition:
    """Where a list stands: its arguments, the last identifier given, how many were given, when it started."""

    prefix: str
    set_spec: str | None
    start: datetime | None  # from, inclusive, to the second
    end: datetime | None  # until, inclusive, to the second
    snapshot: datetime
    after: str = ""
    cursor: int = 0


def parse_request(arguments: Mapping[str, Sequence[str]]) -> OaiRequest:
    """Check a request's arguments as the protocol requires (badVerb, badArgument); a resumption token stands alone."""
    verbs = arguments.get("verb", [])
    if len(verbs) != 1 or verbs[0] not in VERBS:
        raise OaiError(
            "badVerb",
            "the verb is missing, repeated or not an OAI-PMH verb"
            if len(verbs) != 1
            else f"{verbs[0]} is not an OAI-PMH verb",
        )
    verb = verbs[0]
    required, optional = _ARGUMENTS[verb]
    given = {name: values for name, values in arguments.items() if name != "verb"}
    repeated = sorted(name for name, values in given.items() if len(values) != 1)
    if repeated:
        raise OaiError("badArgument", f"repeated arguments: {', '.join(repeated)}")
    illegal = sorted(set(given) - required - optional)
    if illegal:
        raise OaiError("badArgument", f"{verb} does not take {', '.join(illegal)}")
    single = {name: values[0] for name, values in given.items()}
    if "resumptionToken" in single:
        if len(single) > 1:
            raise OaiError("badArgument", "resumptionToken is an exclusive argument")
        return OaiRequest(verb, single)
    missing = sorted(required - set(single))
    if missing:
        raise OaiError("badArgument", f"{verb} needs {', '.join(missing)}")
    if "from" in single or "until" in single:
        kinds = {_granularity(single[name], name) for name in ("from", "until") if name in single}
        if len(kinds) > 1:
            raise OaiError("badArgument", "from and until must have the same granularity")
        start, end = list_window(single.get("from"), single.get("until"))
        if start is not None and end is not None and start > end:
            raise OaiError("badArgument", "from is after until")
    return OaiRequest(verb, single)


def _granularity(value: str, name: str) -> str:
    if _SECOND.match(value):
        kind, pattern = "seconds", "%Y-%m-%dT%H:%M:%SZ"
    elif _DAY.match(value):
        kind, pattern = "days", "%Y-%m-%d"
    else:
        raise OaiError("badArgument", f"{name}={value} is not YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ")
    try:
        datetime.strptime(value, pattern)
    except ValueError:
        raise OaiError("badArgument", f"{name}={value} is not a valid date") from None
    return kind


def list_window(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """``from`` and ``until`` as instants, inclusive, to the second (a day ``until`` runs to 23:59:59)."""

    def instant(value: str | None, day_time: time) -> datetime | None:
        if value is None:
            return None
        if _DAY.match(value):
            return datetime.combine(date.fromisoformat(value), day_time, tzinfo=UTC)
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    return instant(start, time(0, 0, 0)), instant(end, time(23, 59, 59))


def datestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def encode_token(position: ListPosition) -> str:
    payload = {
        "p": position.prefix,
        "s": position.set_spec,
        "f": datestamp(position.start) if position.start else None,
        "u": datestamp(position.end) if position.end else None,
        "n": position.snapshot.isoformat(),
        "a": position.after,
        "c": position.cursor,
    }
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str) -> ListPosition:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        start, end = list_window(payload["f"], payload["u"])
        position = ListPosition(
            prefix=str(payload["p"]),
            set_spec=payload["s"],
            start=start,
            end=end,
            snapshot=datetime.fromisoformat(payload["n"]),
            after=str(payload["a"]),
            cursor=int(payload["c"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise OaiError("badResumptionToken", "the resumption token is not one this repository issued") from None
    if position.prefix not in METADATA_FORMATS or position.snapshot.tzinfo is None:
        raise OaiError("badResumptionToken", "the resumption token is not one this repository issued")
    return position


# -- records ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OaiRecord:
    """What the provider says about one title in one list."""

    title_id: str
    datestamp: datetime
    sets: tuple[str, ...]
    deleted: bool
    dublin_core: Mapping[str, Sequence[str]] = field(default_factory=dict)
    marc: ElementTree.Element | None = None


def identifier(repository: str, title_id: str) -> str:
    return f"oai:{repository}:{title_id}"


def title_id_of(repository: str, oai_identifier: str) -> str:
    prefix = f"oai:{repository}:"
    if not oai_identifier.startswith(prefix) or len(oai_identifier) == len(prefix):
        raise OaiError("idDoesNotExist", f"{oai_identifier} is not an identifier of this repository")
    return oai_identifier[len(prefix) :]


def library_set(library_id: str) -> str:
    return f"{LIBRARY_SETS}:{library_id}"


def collection_set(name: str) -> str:
    return f"{COLLECTION_SETS}:{name}"


def in_set(record_sets: Sequence[str], set_spec: str) -> bool:
    """Sets are hierarchical: a record in ``library:daklak`` is in ``library`` too."""
    return any(spec == set_spec or spec.startswith(set_spec + ":") for spec in record_sets)


# -- XML -------------------------------------------------------------------------------------------------------


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _child(
    parent: ElementTree.Element, name: str, text: str | None = None, namespace: str = OAI
) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, _q(namespace, name))
    if text is not None:
        element.text = text
    return element


def response(
    base_url: str, now: datetime, request: OaiRequest | None, body: ElementTree.Element | list[ElementTree.Element]
) -> bytes:
    """The whole OAI-PMH document. ``request`` None (badVerb, badArgument): the request element has no attributes."""
    root = ElementTree.Element(_q(OAI, "OAI-PMH"))
    root.set(_q(XSI, "schemaLocation"), f"{OAI} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd")
    _child(root, "responseDate", datestamp(now))
    echo = _child(root, "request", base_url)
    if request is not None:
        echo.set("verb", request.verb)
        for name, value in sorted(request.arguments.items()):
            echo.set(name, value)
    for element in body if isinstance(body, list) else [body]:
        root.append(element)
    document: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def error_elements(errors: Sequence[OaiError]) -> list[ElementTree.Element]:
    elements = []
    for error in errors:
        element = ElementTree.Element(_q(OAI, "error"), {"code": error.code})
        element.text = error.message
        elements.append(element)
    return elements


def identify_element(
    name: str, base_url: str, admin_email: str, earliest: datetime, repository: str, sample_title_id: str
) -> ElementTree.Element:
    identify = ElementTree.Element(_q(OAI, "Identify"))
    for tag, text in (
        ("repositoryName", name),
        ("baseURL", base_url),
        ("protocolVersion", "2.0"),
        ("adminEmail", admin_email),
        ("earliestDatestamp", datestamp(earliest)),
        ("deletedRecord", "persistent"),
        ("granularity", GRANULARITY),
    ):
        _child(identify, tag, text)
    return identify


def metadata_formats_element() -> ElementTree.Element:
    formats = ElementTree.Element(_q(OAI, "ListMetadataFormats"))
    for prefix, (schema, namespace) in METADATA_FORMATS.items():
        entry = _child(formats, "metadataFormat")
        _child(entry, "metadataPrefix", prefix)
        _child(entry, "schema", schema)
        _child(entry, "metadataNamespace", namespace)
    return formats


def sets_element(sets: Sequence[tuple[str, str]]) -> ElementTree.Element:
    listing = ElementTree.Element(_q(OAI, "ListSets"))
    for spec, name in sets:
        entry = _child(listing, "set")
        _child(entry, "setSpec", spec)
        _child(entry, "setName", name)
    return listing


def header_element(repository: str, record: OaiRecord) -> ElementTree.Element:
    header = ElementTree.Element(_q(OAI, "header"))
    if record.deleted:
        header.set("status", "deleted")
    _child(header, "identifier", identifier(repository, record.title_id))
    _child(header, "datestamp", datestamp(record.datestamp))
    for spec in record.sets:
        _child(header, "setSpec", spec)
    return header


def record_element(repository: str, record: OaiRecord, prefix: str) -> ElementTree.Element:
    element = ElementTree.Element(_q(OAI, "record"))
    element.append(header_element(repository, record))
    if record.deleted:
        return element  # a deleted record has no metadata
    metadata = _child(element, "metadata")
    if prefix == "marc21":
        assert record.marc is not None
        metadata.append(record.marc)
    else:
        metadata.append(dublin_core_element(record.dublin_core))
    return element


def dublin_core_element(fields: Mapping[str, Sequence[str]]) -> ElementTree.Element:
    dc = ElementTree.Element(_q(OAI_DC, "dc"))
    dc.set(_q(XSI, "schemaLocation"), f"{OAI_DC} http://www.openarchives.org/OAI/2.0/oai_dc.xsd")
    for name in ("title", "creator", "subject", "description", "publisher", "type", "identifier", "language", "rights"):
        for value in fields.get(name, ()):
            if value:
                _child(dc, name, value, DC)
    return dc


def list_element(
    verb: str, repository: str, records: Sequence[OaiRecord], prefix: str, token: str | None, cursor: int
) -> ElementTree.Element:
    """ListIdentifiers or ListRecords; ``token`` "" closes an incomplete list (the last page), None: complete."""
    listing = ElementTree.Element(_q(OAI, verb))
    for record in records:
        listing.append(
            header_element(repository, record)
            if verb == "ListIdentifiers"
            else record_element(repository, record, prefix)
        )
    if token is not None:
        resumption = _child(listing, "resumptionToken", token)
        resumption.set("cursor", str(cursor))
    return listing


def get_record_element(repository: str, record: OaiRecord, prefix: str) -> ElementTree.Element:
    element = ElementTree.Element(_q(OAI, "GetRecord"))
    element.append(record_element(repository, record, prefix))
    return element


def later(*moments: datetime | None) -> datetime:
    present = [moment for moment in moments if moment is not None]
    return max(present) if present else datetime(1970, 1, 1, tzinfo=UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_SECOND = timedelta(seconds=1)
