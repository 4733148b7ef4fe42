"""The one canonical spelling of a resource path, decided once, before any decision about the resource.

A reading system names a resource by the path after ``/v1/read/{token}/``, which the HTTP layer has already
percent-decoded once. Every decision about it — is it served at all, is it the whole file of a read-online-only
document, is it obfuscated or encrypted, which archive entry holds it — is taken on :func:`canonical_path` of it
and on nothing else, so no other spelling (``publication.pdf/``, ``//publication.pdf``, ``./publication.pdf``,
``a/../publication.pdf``, ``publication.pdf\\``, a decomposed Unicode form) can reach a resource while skipping a
check its plain spelling meets.

- a backslash is a separator (browsers treat it so in http URLs: WHATWG URL standard, "special" schemes);
- empty and ``.`` segments are dropped; ``..`` removes the segment before it and may never climb above the root;
- the result is Unicode NFC, and archive entry names are compared in NFC too (:func:`archive_index`);
- nothing is percent-decoded a second time: ``%252f`` arrives as the three characters ``%2f``, which stay part
  of a name (decoding again would let one spelling mean two paths to two layers);
- a control character (NUL included) makes the path name nothing.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, urldefrag, urlsplit

# The container's own files: its directory (container.xml, encryption.xml, an LCP licence, rights.xml) and the
# mimetype entry. They describe the container and are never resources of the publication.
NEVER_SERVED_FOLDERS = ("META-INF",)
NEVER_SERVED_FILES = ("mimetype",)
REMOTE_SCHEMES = ("http", "https")
# Written as they are in a URL path (RFC 3986 pchar less ':', so that a first segment never reads as a scheme);
# everything else — spaces, '%', '?', '#', non-ASCII letters — is percent-encoded.
_PATH_SAFE = "/!$&'()*+,;=@"
_FRAGMENT_SAFE = _PATH_SAFE + ":?%"


def canonical_path(requested: str) -> str | None:
    """The container path ``requested`` names, or None when it names no resource (empty, climbs out, control
    characters)."""
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in requested):
        return None
    segments: list[str] = []
    for segment in unicodedata.normalize("NFC", requested.replace("\\", "/")).split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not segments:
                return None
            segments.pop()
            continue
        segments.append(segment)
    return "/".join(segments) or None


def servable(path: str) -> bool:
    """Whether a canonical path may be served at all (the container's own files may not)."""
    first = path.split("/", 1)[0]
    return first.casefold() not in {name.casefold() for name in NEVER_SERVED_FOLDERS} and path.casefold() not in {
        name.casefold() for name in NEVER_SERVED_FILES
    }


def archive_index(names: Iterable[str]) -> dict[str, str]:
    """Each archive entry by its canonical path (folders, which end in ``/``, are left out)."""
    index: dict[str, str] = {}
    for name in names:
        if name.endswith("/"):
            continue
        canonical = canonical_path(name)
        if canonical is not None:
            index.setdefault(canonical, name)
    return index


def resolve_reference(base_dir: str, href: str, entries: Mapping[str, str]) -> str:
    """A reference made in a document of folder ``base_dir`` (a package, navigation or NCX document), as the
    container path it names, its fragment kept.

    Percent-escapes are decoded once (a reference is a URL); a path starting with ``/`` is relative to the
    container's root, which is the root of every path here (OCF); the result is the archive entry's own spelling
    when one has the same canonical path (``entries``, from :func:`archive_index`), so the manifest names exactly
    what the archive holds. A remote resource (an http or https URL) is kept as it is.
    """
    if is_remote(href):
        return href
    path, fragment = urldefrag(href)
    path = unquote(path)
    if path:
        canonical = canonical_path(path if path.startswith("/") else posixpath.join(base_dir, path))
        path = entries.get(canonical, canonical) if canonical is not None else posixpath.normpath(path).lstrip("/")
    return f"{path}#{fragment}" if fragment else path


def is_remote(reference: str) -> bool:
    return urlsplit(reference).scheme.lower() in REMOTE_SCHEMES


def url_of(reference: str) -> str:
    """The URL, relative to the manifest, of a container path (its fragment kept): what a manifest's ``href``
    holds. A remote resource's URL is its own."""
    if is_remote(reference):
        return reference
    path, hash_, fragment = reference.partition("#")
    return quote(path, safe=_PATH_SAFE) + (hash_ + quote(fragment, safe=_FRAGMENT_SAFE) if hash_ else "")


def container_path_of(href: str) -> str:
    """The container path a manifest's ``href`` names: the inverse of :func:`url_of`, its query (a repeated
    reading-order place) and fragment left out."""
    return unquote(urldefrag(href)[0].split("?", 1)[0])
