"""Protecting publications for LCP: an EPUB with encrypted resources and its encryption.xml, or an LCP PDF package.

EPUB rules (as Readium's own encrypter applies them, checked against the corpus sample): the ``mimetype``,
``META-INF/*``, the package document, the navigation document, the NCX and the cover image stay in clear so that
reading systems can list and show the book before they have a licence; resources already obfuscated (fonts) keep
their obfuscation; every other resource is encrypted with the content key, deflated first unless its media type
is already compressed. Encrypted entries are stored, not zip-compressed (ciphertext does not compress).

The licence is not part of the stored package: it is added as ``META-INF/license.lcpl`` when a patron downloads.
"""

from __future__ import annotations

import json
import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from lxml import etree

from drm.domain import lcp

CONTAINER_NS = "urn:oasis:names:tc:opendocument:xmlns:container"
ENC = "http://www.w3.org/2001/04/xmlenc#"
DS = "http://www.w3.org/2000/09/xmldsig#"
COMP = "http://www.idpf.org/2016/encryption#compression"
OPF = "http://www.idpf.org/2007/opf"
LICENSE_PATH = "META-INF/license.lcpl"
ENCRYPTION_PATH = "META-INF/encryption.xml"
PDF_IN_PACKAGE = "publication.pdf"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, recover=True)
_COMPRESSED_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "audio/", "video/", "font/woff",
                     "application/font-woff", "application/zip", "application/pdf")  # fmt: skip


@dataclass(frozen=True)
class Protected:
    path: Path
    media_type: str
    encrypted: tuple[str, ...]  # container paths now encrypted with the content key


def _opf_path(archive: zipfile.ZipFile) -> str:
    container = etree.fromstring(archive.read("META-INF/container.xml"), _PARSER)
    rootfile = container.find(f".//{{{CONTAINER_NS}}}rootfile")
    if rootfile is None or not rootfile.get("full-path"):
        raise lcp.LcpError("the EPUB has no package document")
    return str(rootfile.get("full-path"))


def _clear_and_types(archive: zipfile.ZipFile, opf_path: str) -> tuple[set[str], dict[str, str]]:
    """Paths that must stay in clear, and the media type of every manifest item."""
    opf = etree.fromstring(archive.read(opf_path), _PARSER)
    base = posixpath.dirname(opf_path)
    clear = {opf_path}
    types: dict[str, str] = {}
    cover_id = None
    meta = opf.find(f"{{{OPF}}}metadata/{{{OPF}}}meta[@name='cover']")
    if meta is not None:
        cover_id = meta.get("content")
    spine = opf.find(f"{{{OPF}}}spine")
    ncx_id = spine.get("toc") if spine is not None else None
    for item in opf.iterfind(f"{{{OPF}}}manifest/{{{OPF}}}item"):
        path = posixpath.normpath(posixpath.join(base, unquote(item.get("href", "").split("#")[0])))
        media_type = item.get("media-type", "")
        types[path] = media_type
        properties = (item.get("properties") or "").split()
        if (
            "nav" in properties
            or "cover-image" in properties
            or item.get("id") in (cover_id, ncx_id)
            or media_type == "application/x-dtbncx+xml"
        ):
            clear.add(path)
    return clear, types


def _obfuscated(archive: zipfile.ZipFile) -> list[Any]:
    """Existing EncryptedData elements (font obfuscation) to keep."""
    try:
        root = etree.fromstring(archive.read(ENCRYPTION_PATH), _PARSER)
    except KeyError:
        return []
    return list(root.iter(f"{{{ENC}}}EncryptedData"))


def _encrypted_data(path: str, compressed_length: int | None) -> Any:
    data = etree.Element(f"{{{ENC}}}EncryptedData", nsmap={None: ENC})
    etree.SubElement(data, f"{{{ENC}}}EncryptionMethod", Algorithm=lcp.AES256_CBC)
    key_info = etree.SubElement(data, f"{{{DS}}}KeyInfo", nsmap={None: DS})
    etree.SubElement(key_info, f"{{{DS}}}RetrievalMethod", URI="license.lcpl#/encryption/content_key",
                     Type="http://readium.org/2014/01/lcp#EncryptedContentKey")  # fmt: skip
    cipher = etree.SubElement(data, f"{{{ENC}}}CipherData")
    etree.SubElement(cipher, f"{{{ENC}}}CipherReference", URI=quote(path))
    if compressed_length is not None:
        properties = etree.SubElement(data, f"{{{ENC}}}EncryptionProperties")
        prop = etree.SubElement(properties, f"{{{ENC}}}EncryptionProperty")
        etree.SubElement(prop, f"{{{COMP}}}Compression", nsmap={None: COMP}, Method="8",
                         OriginalLength=str(compressed_length))  # fmt: skip
    return data


def protect_epub(source: Path, target: Path, content_key: bytes) -> Protected:
    with zipfile.ZipFile(source) as archive:
        opf_path = _opf_path(archive)
        clear, types = _clear_and_types(archive, opf_path)
        kept = _obfuscated(archive)
        already = {unquote(ref.get("URI", "")) for d in kept for ref in d.iter(f"{{{ENC}}}CipherReference")}
        encrypted: list[str] = []
        entries: list[Any] = list(kept)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as output:
            output.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip", compress_type=zipfile.ZIP_STORED)
            for info in archive.infolist():
                name = info.filename
                if name == "mimetype" or name.endswith("/") or name in (ENCRYPTION_PATH, LICENSE_PATH):
                    continue
                data = archive.read(info)
                if name.startswith("META-INF/") or name in clear or name in already:
                    output.writestr(name, data)
                    continue
                compress = not types.get(name, "").startswith(_COMPRESSED_TYPES)
                sealed = lcp.encrypt_resource(content_key, data, compress)
                output.writestr(
                    zipfile.ZipInfo(name, date_time=info.date_time), sealed, compress_type=zipfile.ZIP_STORED
                )
                entries.append(_encrypted_data(name, len(data) if compress else None))
                encrypted.append(name)
            root = etree.Element(f"{{{CONTAINER_NS}}}encryption", nsmap={None: CONTAINER_NS})
            root.extend(entries)
            output.writestr(ENCRYPTION_PATH, etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return Protected(target, "application/epub+zip", tuple(encrypted))


def protect_pdf(source: Path, target: Path, content_key: bytes, title: str) -> Protected:
    """An LCP PDF package: a Readium manifest and the encrypted PDF in a zip (``.lcpdf``)."""
    manifest = {
        "@context": ["https://readium.org/webpub-manifest/context.jsonld"],
        "metadata": {"title": title or "PDF"},
        "links": [],
        "readingOrder": [
            {
                "href": PDF_IN_PACKAGE,
                "type": "application/pdf",
                "properties": {"encrypted": {"scheme": "http://readium.org/2014/01/lcp",
                                             "profile": lcp.BASIC_PROFILE, "algorithm": lcp.AES256_CBC}},
            }
        ],
    }  # fmt: skip
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as output:
        output.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False))
        sealed = lcp.encrypt_resource(content_key, source.read_bytes(), compress=False)
        output.writestr(zipfile.ZipInfo(PDF_IN_PACKAGE), sealed, compress_type=zipfile.ZIP_STORED)
    return Protected(target, "application/pdf+lcp", (PDF_IN_PACKAGE,))


def with_license(protected: Path, licence: dict[str, Any], target: Path) -> None:
    """The protected package with this patron's licence inside, as a reading app would receive it."""
    with zipfile.ZipFile(protected) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as output:
        for info in source.infolist():
            if info.filename == LICENSE_PATH:
                continue
            output.writestr(info, source.read(info))
        output.writestr(LICENSE_PATH, json.dumps(licence, ensure_ascii=False, separators=(",", ":")))
