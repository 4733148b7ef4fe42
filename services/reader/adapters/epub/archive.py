"""Zip-level checks of an upload, before anything in it is parsed: bombs, traversal, links, damaged
directories, and which DRM (if any) protects it."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from urllib.parse import unquote

from lxml import etree

from reader.adapters.epub.navigation import NS, resolver
from reader.adapters.epub.xml_safety import PARSER, XML_CHUNK, XML_SUFFIXES, SafeXml
from reader.domain.packaging import Limits, ZipEntry, sniffs_as_xml, zip_problems
from reader.domain.protection import drm_protection
from reader.domain.publication import (
    Encryption,
)
from reader.domain.resource_paths import archive_index
from reader.errors import UnreadableFile, UnsafeFile

# What reading a zip whose directory lies (sizes, CRCs, offsets, methods, flags) raises, as zipfile and zlib
# report it (RuntimeError: an entry flagged encrypted; UnicodeDecodeError: a name flagged UTF-8 that is not).
DAMAGED_ZIP: tuple[type[Exception], ...] = (
    zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError, RuntimeError, UnicodeDecodeError,
)  # fmt: skip


def zip_entries(archive: zipfile.ZipFile) -> list[ZipEntry]:
    return [
        ZipEntry(
            name=info.filename,
            compressed_size=info.compress_size,
            size=info.file_size,
            external_attr=info.external_attr,
            flag_bits=info.flag_bits,
            create_system=info.create_system,
        )
        for info in archive.infolist()
    ]


def check_archive(path: Path, limits: Limits) -> list[str]:
    """Refuse unsafe or damaged archives; return warnings (XML that does not parse) for the rest.

    Every entry is read once, whole: zipfile checks each against the size and CRC the directory declares (a
    directory that lies is a damaged archive), and every entry, whatever its name, goes through the safe XML
    parser, since any of them may be read as XML (a package document may be called ``package.dat``). An entry
    that is not XML stops the parser at its first bytes and is simply read to its end.
    """
    try:
        archive = zipfile.ZipFile(path)
    except DAMAGED_ZIP as error:
        raise UnreadableFile(f"not a readable zip archive: {error}") from None
    with archive:
        problems = zip_problems(zip_entries(archive), limits)
        if problems:
            raise UnsafeFile("; ".join(problems[:5]))
        parse_errors: dict[str, str] = {}
        markup: set[str] = set()
        for info in archive.infolist():
            if info.is_dir():
                continue
            checker = SafeXml()
            read = 0
            try:
                with archive.open(info) as entry:
                    head = entry.read(XML_CHUNK)
                    if sniffs_as_xml(head):
                        markup.add(info.filename)
                    chunk = head
                    while chunk:
                        read += len(chunk)
                        checker.feed(chunk)
                        chunk = entry.read(XML_CHUNK)
            except DAMAGED_ZIP as error:
                raise UnreadableFile(f"{info.filename}: the archive is damaged ({error})") from None
            if read != info.file_size:  # zipfile stops at the declared size, but not short of it
                raise UnreadableFile(
                    f"{info.filename}: the archive is damaged (the directory says {info.file_size} bytes, "
                    f"the entry holds {read})"
                )
            problem, parse_error = checker.close()
            if problem:
                raise UnsafeFile(f"{info.filename}: {problem}")
            if parse_error:
                parse_errors[info.filename] = parse_error
        xml_documents = (
            markup
            | set(_container_rootfiles(archive))
            | {name for name in parse_errors if name.lower().endswith(XML_SUFFIXES)}
        )
        return [
            f"{name} is not well-formed XML ({error})" for name, error in parse_errors.items() if name in xml_documents
        ]


def rootfile_paths(container_xml: bytes) -> list[str]:
    """The package documents a ``META-INF/container.xml`` lists, in its order (read with the safe parser).

    EPUB 3 Multiple-Rendition Publications: the first is the default rendition, the one a reading system
    without rendition selection must use."""
    try:
        root = etree.fromstring(container_xml, PARSER)
    except etree.LxmlError:
        return []
    if root is None:
        return []
    rootfiles = list(root.iter("{urn:oasis:names:tc:opendocument:xmlns:container}rootfile"))
    packages = [r for r in rootfiles if (r.get("media-type") or "").strip() == "application/oebps-package+xml"]
    return [unquote(r.get("full-path", "")).lstrip("/") for r in packages or rootfiles if r.get("full-path")]


def _container_rootfiles(archive: zipfile.ZipFile) -> list[str]:
    try:
        return rootfile_paths(archive.read("META-INF/container.xml"))
    except KeyError:
        return []


def encryption_of(archive: zipfile.ZipFile) -> dict[str, Encryption]:
    """The entries of ``META-INF/encryption.xml`` by container path (its references are relative to the root)."""
    resolve = resolver("", archive_index(archive.namelist()))
    try:
        data = archive.read("META-INF/encryption.xml")
    except KeyError:
        return {}
    root = etree.fromstring(data, PARSER)
    result: dict[str, Encryption] = {}
    if root is None:
        return result
    for encrypted in root.iter("{%s}EncryptedData" % NS["enc"]):  # noqa: UP031
        method = encrypted.find("enc:EncryptionMethod", NS)
        reference = encrypted.find("enc:CipherData/enc:CipherReference", NS)
        if method is None or reference is None:
            continue
        compression = encrypted.find(".//comp:Compression", NS)
        key_info = encrypted.find("ds:KeyInfo/ds:RetrievalMethod", NS)
        lcp = key_info is not None and "readium.org/2014/01/lcp" in (key_info.get("URI") or "") + (
            key_info.get("Type") or ""
        )
        original = compression.get("OriginalLength") if compression is not None else None
        result[resolve(reference.get("URI", ""))] = Encryption(
            algorithm=method.get("Algorithm", ""),
            compression="deflate" if compression is not None and compression.get("Method") == "8" else None,
            original_length=int(original) if original and original.isdigit() else None,
            profile="http://readium.org/lcp/basic-profile" if lcp else None,
            scheme="http://readium.org/2014/01/lcp" if lcp else None,
        )
    return result


def drm_protection_of(path: Path) -> str | None:
    """Why a checked archive is DRM-protected (see :func:`reader.domain.protection.drm_protection`), or None."""
    with zipfile.ZipFile(path) as archive:
        algorithms = {path: encryption.algorithm for path, encryption in encryption_of(archive).items()}
        return drm_protection(archive.namelist(), algorithms)
