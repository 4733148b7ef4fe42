"""MARC21 files: reading what an ILS exported (ISO 2709 in MARC-8 or UTF-8, or MARCXML) and writing our exports.

Reading never stops at a bad record: each record is either parsed or refused with the reason, so an import
reports on every record of the file. ISO 2709 records say their encoding in leader/09 (``a``: UTF-8, blank:
MARC-8); pymarc converts MARC-8 to Unicode and we keep every string in NFC.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pymarc
from pymarc import Record

MARC_XML_NAMESPACE = "http://www.loc.gov/MARC21/slim"
ISO_2709 = "application/marc"
MARC_XML = "application/marcxml+xml"


@dataclass(frozen=True)
class ReadRecord:
    """The ``position``-th record of a file (1-based): parsed, or why it could not be."""

    position: int
    record: Record | None
    problem: str = ""


def read_records(data: bytes) -> Iterator[ReadRecord]:
    """Every record of an ISO 2709 or MARCXML file (told apart by their first byte)."""
    if data.lstrip()[:1] == b"<":
        yield from _read_marcxml(data)
        return
    reader = pymarc.MARCReader(data, to_unicode=True, force_utf8=False, utf8_handling="strict", permissive=True)
    for position, record in enumerate(reader, start=1):
        if record is None:
            yield ReadRecord(position, None, _describe(reader.current_exception))
            if isinstance(reader.current_exception, pymarc.exceptions.FatalReaderError):
                return
        elif record.leader[9] == " " and _looks_like_utf8(reader.current_chunk or b""):
            problem = "says it is MARC-8 (leader/09 blank) but its text is UTF-8; export it with leader/09 'a'"
            yield ReadRecord(position, None, problem)
        else:
            yield ReadRecord(position, record)


def _looks_like_utf8(chunk: bytes) -> bool:
    """MARC-8 puts combining marks (0xE0-0xFE) before plain letters, which is never valid UTF-8: text that has
    bytes above ASCII and decodes as UTF-8 is UTF-8."""
    if chunk.isascii():
        return False
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _describe(error: Exception | None) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "says it is UTF-8 (leader/09 'a') but holds bytes that are not UTF-8"
    if isinstance(error, pymarc.exceptions.PymarcException):
        return f"not a valid ISO 2709 record ({type(error).__name__}: {error})"
    return f"unreadable ({type(error).__name__ if error else 'unknown error'})"


def _read_marcxml(data: bytes) -> Iterator[ReadRecord]:
    try:
        records = pymarc.parse_xml_to_array(io.BytesIO(data), strict=True, normalize_form="NFC")
    except Exception as error:
        yield ReadRecord(1, None, f"not well-formed MARCXML ({type(error).__name__}: {error})")
        return
    for position, record in enumerate(records, start=1):
        yield ReadRecord(position, record)


def iso2709(records: Iterable[Record]) -> bytes:
    return b"".join(record.as_marc() for record in records)


def marcxml(records: Iterable[Record]) -> bytes:
    ElementTree.register_namespace("marc", MARC_XML_NAMESPACE)
    collection = ElementTree.Element(f"{{{MARC_XML_NAMESPACE}}}collection")
    for record in records:
        collection.append(record_element(record))
    document: bytes = ElementTree.tostring(collection, encoding="utf-8", xml_declaration=True)
    return document


def record_element(record: Record) -> ElementTree.Element:
    """One record as a MARCXML ``record`` element in the MARC21 slim namespace (also OAI-PMH's ``marc21``)."""
    element: ElementTree.Element = pymarc.record_to_xml_node(record, namespace=True)
    return element
