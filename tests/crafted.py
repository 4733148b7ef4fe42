"""Small EPUBs written with zipfile for the cases the corpus lacks (W3C/IDPF test shapes, hostile archives).

``epub_bytes`` builds the smallest valid book and adds entries to it; ``package`` writes a package document with
the manifest and spine a test needs. Nothing binary is kept in the repository.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

CONTAINER = b"""<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OPS/package.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"""
PACKAGE = b"""<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">urn:uuid:1</dc:identifier>
<dc:title>Th\xc6\xb0 th\xe1\xbb\xad</dc:title><dc:language>vi</dc:language></metadata>
<manifest><item id="c" href="chapter.xhtml" media-type="application/xhtml+xml"/></manifest>
<spine><itemref idref="c"/></spine></package>"""
CHAPTER = b"""<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head>
<body><p>Xin ch\xc3\xa0o</p></body></html>"""

Entry = tuple[zipfile.ZipInfo | str, bytes]


def epub_bytes(
    extra: Iterable[Entry] = (),
    *,
    mimetype_first: bool = True,
    container: bytes = CONTAINER,
    opf: bytes = PACKAGE,
    opf_path: str = "OPS/package.opf",
    chapter_path: str = "OPS/chapter.xhtml",
) -> bytes:
    """A small EPUB: mimetype, container, package, one chapter, then ``extra`` (written as given, duplicates too).

    ``mimetype_first=False`` leaves out the mimetype and the container (a zip that is not an EPUB)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate entries some tests write on purpose
        if mimetype_first:
            archive.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip", compress_type=zipfile.ZIP_STORED)
            archive.writestr("META-INF/container.xml", container)
        archive.writestr(opf_path, opf)
        if chapter_path:
            archive.writestr(chapter_path, CHAPTER)
        for info, data in extra:
            archive.writestr(info, data)
    return buffer.getvalue()


def package(
    manifest: str,
    spine: str,
    *,
    title: str = "Thư thử",
    language: str = "vi",
    spine_attributes: str = "",
    metadata: str = "",
    version: str = "3.0",
) -> bytes:
    """A package document with these manifest items and spine itemrefs (XML fragments)."""
    language_element = f"<dc:language>{language}</dc:language>" if language else ""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="{version}" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">urn:uuid:crafted</dc:identifier>
<dc:title>{title}</dc:title>{language_element}{metadata}</metadata>
<manifest>{manifest}</manifest>
<spine{spine_attributes}>{spine}</spine></package>""".encode()


def container(*rootfiles: str) -> bytes:
    """A container.xml listing these package documents, in this order."""
    listed = "".join(f'<rootfile full-path="{path}" media-type="application/oebps-package+xml"/>' for path in rootfiles)
    return f"""<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles>{listed}</rootfiles></container>""".encode()


def chapter(text: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">
<head><title>{text}</title></head><body><p>{text}</p></body></html>""".encode()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def pdf_bytes(*, info: dict[str, str] | None = None, encrypt: bytes | None = None, pages: int = 1) -> bytes:
    """A small PDF written by hand: blank pages, an optional document information dictionary (Title, Author…)
    and an optional /Encrypt dictionary (e.g. Adobe's ``/Filter /EBX_HANDLER``)."""
    kids = " ".join(f"{3 + page} 0 R" for page in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode()]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"] * pages
    trailer = f"/Size {len(objects) + 1 + bool(info) + bool(encrypt)} /Root 1 0 R"
    if info:
        # UTF-16BE text strings with a byte order mark: any title, Vietnamese included
        fields = " ".join(f"/{key} <feff{value.encode('utf-16-be').hex()}>" for key, value in info.items())
        objects.append(f"<< {fields} >>".encode())
        trailer += f" /Info {len(objects)} 0 R"
    if encrypt:
        objects.append(encrypt)
        trailer += f" /Encrypt {len(objects)} 0 R /ID [<{'00' * 16}><{'00' * 16}>]"
    out = b"%PDF-1.6\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    return out + f"trailer\n<< {trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode()
