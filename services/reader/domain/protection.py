"""Is an uploaded book already DRM-protected? Such a file cannot be read, lent or protected again here.

Sách Số protects books itself (Readium LCP, by DRM, from the publisher's clear file). A file that arrives
protected carries someone else's keys: its licences would not open it and streaming could not read it, so it is
refused with the reason. Font obfuscation (IDPF, Adobe) is not protection: it only ties fonts to the book.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from reader.domain import fonts

_MARKERS = {
    "meta-inf/license.lcpl": "a Readium LCP licence (META-INF/license.lcpl)",
    "meta-inf/rights.xml": "Adobe DRM rights (META-INF/rights.xml)",
    "meta-inf/sinf.xml": "Apple FairPlay rights (META-INF/sinf.xml)",
}


def drm_protection(names: Collection[str], encryption: Mapping[str, str]) -> str | None:
    """Why an EPUB with these entries and these ``encryption.xml`` algorithms (by path) is DRM-protected, or
    None when it is not."""
    found = [marker for name in names if (marker := _MARKERS.get(name.casefold()))]
    encrypted = sorted((path, algorithm) for path, algorithm in encryption.items() if algorithm not in fonts.ALGORITHMS)
    if encrypted:
        path, algorithm = encrypted[0]
        others = f" and {len(encrypted) - 1} more" if len(encrypted) > 1 else ""
        found.append(f"encrypted resources in META-INF/encryption.xml ({path} with {algorithm}{others})")
    if not found:
        return None
    return "the book is DRM-protected: it carries " + "; ".join(found)
