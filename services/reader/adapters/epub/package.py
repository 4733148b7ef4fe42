"""Reading an EPUB's package into :class:`EpubPackage` (ebooklib, made tolerant of manifest items missing from
the archive: they are recorded as warnings and kept, marked absent, instead of aborting the whole book)."""

from __future__ import annotations

import posixpath
import warnings
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ebooklib import epub
from lxml import etree

from reader.adapters.epub.archive import encryption_of, rootfile_paths
from reader.adapters.epub.navigation import NS, parse_nav, parse_ncx, resolver
from reader.domain.publication import (
    XML_WHITE_SPACE,
    Contributor,
    EpubPackage,
    Item,
    Metadata,
    NavEntry,
    Rendition,
    SpineItem,
    clean_text,
)
from reader.domain.resource_paths import archive_index
from reader.errors import UnreadableFile
from sachso.kit.text import nfc


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
        encryption = encryption_of(archive)
        package_el = opf.getroot()
        items: list[Item] = []
        manifest_el = package_el.find("opf:manifest", NS)
        in_package = resolver(reader.opf_file, entries)
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
            navigation = parse_nav(archive.read(nav_item.href), resolver(nav_item.href, entries))
        toc_id = spine_el.get("toc") if spine_el is not None else None
        ncx = next((i for i in items if i.id == toc_id or i.media_type == "application/x-dtbncx+xml"), None)
        if ncx is not None and ncx.present:
            for kind, listed in parse_ncx(archive.read(ncx.href), resolver(ncx.href, entries)).items():
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
