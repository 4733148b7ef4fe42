"""Opening an uploaded EPUB safely and reading its package into :class:`EpubPackage`.

Order matters: the zip directory is checked first (bombs, traversal, links), then every XML document is parsed
with defusedxml (no entity declarations, no external references), and only then does ebooklib read the package.
ebooklib's reader is made tolerant of manifest items missing from the archive (common in real books): they are
recorded as warnings and kept, marked absent, instead of aborting the whole book.
"""

from __future__ import annotations

import posixpath
import warnings
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.parsers import expat

from ebooklib import epub
from lxml import etree

from reader.domain.packaging import Limits, ZipEntry, sniffs_as_xml, zip_problems
from reader.domain.protection import drm_protection
from reader.domain.publication import (
    XML_WHITE_SPACE,
    Contributor,
    Encryption,
    EpubPackage,
    Item,
    Metadata,
    NavEntry,
    Rendition,
    SpineItem,
    clean_text,
)
from reader.domain.resource_paths import archive_index, resolve_reference
from reader.errors import UnreadableFile, UnsafeFile
from sachso.kit.text import nfc

NS = {
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xhtml": "http://www.w3.org/1999/xhtml",
    "epub": "http://www.idpf.org/2007/ops",
    "ncx": "http://www.daisy.org/z3986/2005/ncx/",
    "enc": "http://www.w3.org/2001/04/xmlenc#",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "comp": "http://www.idpf.org/2016/encryption#compression",
}
XML_SUFFIXES = (".xml", ".opf", ".ncx", ".xhtml", ".html", ".htm", ".svg", ".smil", ".xht")
XML_CHUNK = 64 * 1024
# What reading a zip whose directory lies (sizes, CRCs, offsets, methods, flags) raises, as zipfile and zlib
# report it (RuntimeError: an entry flagged encrypted; UnicodeDecodeError: a name flagged UTF-8 that is not).
DAMAGED_ZIP: tuple[type[Exception], ...] = (
    zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError, RuntimeError, UnicodeDecodeError,
)  # fmt: skip
_PARSER = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


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
        root = etree.fromstring(container_xml, _PARSER)
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


class _Refused(Exception):
    pass


class SafeXml:
    """Expat fed chunk by chunk, refusing what makes XML unsafe to parse.

    Internal entities with plain replacement text are allowed (real books declare typographic quotes that way);
    external and parameter entities, and entities that refer to other entities (the "billion laughs" shape),
    are refused. Expat never fetches anything: external references are refused before they could be. After the
    first syntax error the rest is ignored (a binary entry fails at its first bytes).
    """

    def __init__(self) -> None:
        self._parser = expat.ParserCreate()
        self._parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self._parser.EntityDeclHandler = self._declared
        self._parser.ExternalEntityRefHandler = self._external
        self.problem: str | None = None
        self.parse_error: str | None = None

    @staticmethod
    def _declared(name: str, is_parameter: int, value: str | None, *_: object) -> None:
        if is_parameter:
            raise _Refused(f"declares the parameter entity %{name}; (not accepted)")
        if value is None:
            raise _Refused(f"declares the external entity &{name}; (not accepted)")
        if "&" in value or "%" in value:
            raise _Refused(f"the entity &{name}; refers to other entities (entity expansion is not accepted)")

    @staticmethod
    def _external(*_: object) -> int:
        raise _Refused("refers to an external entity (not accepted)")

    def feed(self, data: bytes, final: bool = False) -> None:
        if self.problem is not None or self.parse_error is not None:
            return
        try:
            self._parser.Parse(data, final)
        except _Refused as refused:
            self.problem = str(refused)
        except expat.ExpatError as error:
            self.parse_error = str(error)

    def close(self) -> tuple[str | None, str | None]:
        """(why the document is unsafe, why it does not parse): each None when it is not so."""
        self.feed(b"", final=True)
        return self.problem, self.parse_error


def xml_safety(data: bytes) -> tuple[str | None, str | None]:
    """(why the document is unsafe, why it does not parse) for one whole document: see :class:`SafeXml`."""
    checker = SafeXml()
    checker.feed(data)
    return checker.close()


class _TolerantReader(epub.EpubReader):  # type: ignore[misc]
    """ebooklib's reader (for the package's metadata), reading missing files as empty instead of failing on the
    first one; which items are missing is decided from the archive's own directory in :func:`read_epub`."""

    def _parse_nav(self, data: bytes, base_path: str, navtype: str = "toc") -> None:
        if data:  # a navigation document missing from the archive is a warning, read from the NCX if any
            super()._parse_nav(data, base_path, navtype)

    def __init__(self, path: str) -> None:
        super().__init__(path, options={"ignore_ncx": False})

    def _load_container(self) -> None:
        """The first package document (the default rendition), where ebooklib would keep the last."""
        packages = rootfile_paths(self.read_file("META-INF/container.xml"))
        if not packages:
            raise epub.EpubException(-1, "META-INF/container.xml lists no package document")
        self.opf_file = packages[0]
        self.opf_dir = posixpath.dirname(self.opf_file)

    def read_file(self, name: str) -> bytes:
        try:
            return super().read_file(name)  # type: ignore[no-any-return]
        except KeyError:
            if name == "META-INF/container.xml":
                raise
            return b""


def _text(element: Any) -> str:
    return clean_text("".join(element.itertext())) if element is not None else ""


Resolve = Callable[[str], str]  # a reference in one document -> the container path it names (fragment kept)


def _resolver(document_path: str, entries: Mapping[str, str]) -> Resolve:
    base_dir = posixpath.dirname(document_path)
    return lambda href: resolve_reference(base_dir, href, entries)


def _nav_entries(ol: Any, resolve: Resolve) -> tuple[NavEntry, ...]:
    entries = []
    for li in ol.findall("xhtml:li", NS):
        anchor = li.find("xhtml:a", NS)
        label = anchor if anchor is not None else li.find("xhtml:span", NS)
        child = li.find("xhtml:ol", NS)
        href = resolve(anchor.get("href", "")) if anchor is not None else ""
        entries.append(NavEntry(_text(label), href, _nav_entries(child, resolve) if child is not None else ()))
    return tuple(entries)


def _parse_nav(content: bytes, resolve: Resolve) -> dict[str, tuple[NavEntry, ...]]:
    root = etree.fromstring(content, _PARSER)
    if root is None:
        return {}
    found: dict[str, tuple[NavEntry, ...]] = {}
    for nav in root.iter("{%s}nav" % NS["xhtml"]):  # noqa: UP031
        kind = nav.get("{%s}type" % NS["epub"], "")  # noqa: UP031
        ol = nav.find("xhtml:ol", NS)
        if ol is not None and kind in ("toc", "landmarks", "page-list"):
            found.setdefault(kind, _nav_entries(ol, resolve))
    return found


def _ncx_points(parent: Any, resolve: Resolve) -> tuple[NavEntry, ...]:
    entries = []
    for point in parent.findall("ncx:navPoint", NS):
        label = point.find("ncx:navLabel/ncx:text", NS)
        content = point.find("ncx:content", NS)
        href = resolve(content.get("src", "")) if content is not None else ""
        entries.append(NavEntry(_text(label), href, _ncx_points(point, resolve)))
    return tuple(entries)


def _parse_ncx(content: bytes, resolve: Resolve) -> dict[str, tuple[NavEntry, ...]]:
    root = etree.fromstring(content, _PARSER)
    if root is None:
        return {}
    result: dict[str, tuple[NavEntry, ...]] = {}
    nav_map = root.find("ncx:navMap", NS)
    if nav_map is not None:
        result["toc"] = _ncx_points(nav_map, resolve)
    page_list = root.find("ncx:pageList", NS)
    if page_list is not None:
        pages = []
        for target in page_list.findall("ncx:pageTarget", NS):
            content_el = target.find("ncx:content", NS)
            href = resolve(content_el.get("src", "")) if content_el is not None else ""
            pages.append(NavEntry(_text(target.find("ncx:navLabel/ncx:text", NS)), href))
        result["page-list"] = tuple(pages)
    return result


def _encryption(archive: zipfile.ZipFile) -> dict[str, Encryption]:
    """The entries of ``META-INF/encryption.xml`` by container path (its references are relative to the root)."""
    resolve = _resolver("", archive_index(archive.namelist()))
    try:
        data = archive.read("META-INF/encryption.xml")
    except KeyError:
        return {}
    root = etree.fromstring(data, _PARSER)
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
        algorithms = {path: encryption.algorithm for path, encryption in _encryption(archive).items()}
        return drm_protection(archive.namelist(), algorithms)


def _metadata(book: Any, opf: Any) -> tuple[Metadata, Rendition]:
    def values(name: str) -> list[tuple[str, dict[str, str]]]:
        return [(value or "", attrs or {}) for value, attrs in book.get_metadata("DC", name)]

    metas = {
        attrs.get("property", ""): value for value, attrs in book.get_metadata("OPF", "meta") if attrs.get("property")
    }
    refines: dict[str, dict[str, str]] = {}
    for value, attrs in book.get_metadata("OPF", "meta"):
        target = attrs.get("refines", "").lstrip("#")
        if target and attrs.get("property"):
            refines.setdefault(target, {})[attrs["property"]] = (value or "").strip()
    contributors = []
    for kind, default_role in (("creator", "aut"), ("contributor", "ctb")):
        for value, attrs in values(kind):
            role = attrs.get("{%s}role" % NS["opf"]) or refines.get(attrs.get("id", ""), {}).get("role") or default_role  # noqa: UP031
            contributors.append(Contributor(clean_text(value), role))
    titles = values("title")
    main_title = titles[0][0] if titles else ""
    subtitle = ""
    for value, attrs in titles:
        if refines.get(attrs.get("id", ""), {}).get("title-type") == "main":
            main_title = value
        elif refines.get(attrs.get("id", ""), {}).get("title-type") == "subtitle":
            subtitle = value
    identifiers = values("identifier")
    unique_id = opf.getroot().get("unique-identifier") if opf is not None else None
    identifier = next((v for v, a in identifiers if a.get("id") == unique_id), identifiers[0][0] if identifiers else "")
    isbn = next(
        (
            v.removeprefix("urn:isbn:")
            for v, _ in identifiers
            if "isbn" in v.lower() or (v.replace("-", "").isdigit() and len(v.replace("-", "")) == 13)
        ),
        "",
    )
    dates = values("date")
    published = next((v for v, a in dates if a.get("{%s}event" % NS["opf"], "publication") == "publication"), "")  # noqa: UP031
    metadata = Metadata(
        title=clean_text(main_title),
        identifier=identifier.strip(),
        subtitle=clean_text(subtitle),
        languages=tuple(v.strip() for v, _ in values("language") if v.strip()),
        contributors=tuple(contributors),
        publisher=next((clean_text(v) for v, _ in values("publisher")), ""),
        description=next((nfc(v).strip(XML_WHITE_SPACE) for v, _ in values("description")), ""),
        subjects=tuple(clean_text(v) for v, _ in values("subject") if clean_text(v)),
        published=published.strip(),
        modified=metas.get("dcterms:modified", "").strip(),
        isbn=isbn.replace("-", "").strip(),
    )
    rendition = Rendition(
        layout=metas.get("rendition:layout", "reflowable").strip(),
        spread=metas.get("rendition:spread", "auto").strip(),
        orientation=metas.get("rendition:orientation", "auto").strip(),
        flow=metas.get("rendition:flow", "auto").strip(),
    )
    return metadata, rendition


def read_epub(path: Path) -> tuple[EpubPackage, dict[str, int]]:
    """The package of a checked archive, and the uncompressed size of every entry by path."""
    reader = _TolerantReader(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            book = reader.load()
        except (epub.EpubException, KeyError, etree.LxmlError, AttributeError, TypeError) as error:
            raise UnreadableFile(f"not a readable EPUB package: {error}") from None
    opf = reader.container
    with zipfile.ZipFile(path) as archive:
        sizes = {info.filename: info.file_size for info in archive.infolist()}
        entries = archive_index(sizes)
        encryption = _encryption(archive)
        package_el = opf.getroot()
        items: list[Item] = []
        manifest_el = package_el.find("opf:manifest", NS)
        in_package = _resolver(reader.opf_file, entries)
        for element in manifest_el.findall("opf:item", NS) if manifest_el is not None else []:
            href = in_package(element.get("href", ""))
            media_type = (element.get("media-type") or "application/octet-stream").strip()
            items.append(
                Item(
                    id=element.get("id", ""),
                    href=href,
                    media_type="image/jpeg" if media_type == "image/jpg" else media_type,
                    properties=tuple((element.get("properties") or "").split()),
                    size=sizes.get(href, 0),
                    present=href in sizes,
                    encryption=encryption.get(href),
                )
            )
        spine_el = package_el.find("opf:spine", NS)
        spine = tuple(
            SpineItem(
                idref=ref.get("idref", ""),
                linear=ref.get("linear", "yes") != "no",
                properties=tuple((ref.get("properties") or "").split()),
            )
            for ref in (spine_el.findall("opf:itemref", NS) if spine_el is not None else [])
        )
        navigation: dict[str, tuple[NavEntry, ...]] = {}
        nav_item = next((item for item in items if "nav" in item.properties and item.present), None)
        if nav_item is not None:
            navigation = _parse_nav(archive.read(nav_item.href), _resolver(nav_item.href, entries))
        toc_id = spine_el.get("toc") if spine_el is not None else None
        ncx = next((i for i in items if i.id == toc_id or i.media_type == "application/x-dtbncx+xml"), None)
        if ncx is not None and ncx.present:
            for kind, listed in _parse_ncx(archive.read(ncx.href), _resolver(ncx.href, entries)).items():
                if not navigation.get(kind):
                    navigation[kind] = listed
    metadata, rendition = _metadata(book, opf)
    cover_id = next((i.id for i in items if "cover-image" in i.properties), None)
    if cover_id is None:  # EPUB 2: <meta name="cover" content="item-id"/>
        meta_cover = package_el.find("opf:metadata/opf:meta[@name='cover']", NS)
        cover_id = meta_cover.get("content") if meta_cover is not None else None
    warnings_ = [
        f"{missing} is listed in the package but missing from the archive"
        for missing in sorted({item.href for item in items if not item.present and not urlsplit(item.href).scheme})
    ]
    if not spine:
        warnings_.append("the spine is empty")
    package = EpubPackage(
        version=package_el.get("version", ""),
        metadata=metadata,
        items=tuple(items),
        spine=spine,
        page_progression=(spine_el.get("page-progression-direction") if spine_el is not None else None) or "default",
        rendition=rendition,
        toc=navigation.get("toc", ()),
        landmarks=navigation.get("landmarks", ()),
        page_list=navigation.get("page-list", ()),
        cover_id=cover_id,
        warnings=tuple(warnings_),
    )
    return package, sizes
