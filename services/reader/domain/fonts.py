"""Font obfuscation (EPUB OCF IDPF algorithm and Adobe's), undone for serving to the reading system."""

from __future__ import annotations

import hashlib
import re

IDPF = "http://www.idpf.org/2008/embedding"
ADOBE = "http://ns.adobe.com/pdf/enc#RC"
ALGORITHMS = frozenset({IDPF, ADOBE})


def _key(algorithm: str, identifier: str) -> tuple[bytes, int]:
    if algorithm == IDPF:
        # OCF 3.x: SHA-1 of the unique identifier with all white space removed; the first 1,040 bytes
        return hashlib.sha1(
            re.sub(r"[\x20\x09\x0d\x0a]", "", identifier).encode(), usedforsecurity=False
        ).digest(), 1040
    # Adobe: the 16 bytes of the identifier's UUID; the first 1,024 bytes
    hexdigits = re.sub(r"[^0-9a-fA-F]", "", identifier.removeprefix("urn:uuid:"))
    return bytes.fromhex(hexdigits[:32].ljust(32, "0")), 1024


def deobfuscate(data: bytes, algorithm: str, identifier: str) -> bytes:
    """XOR the obfuscated prefix with the key (the same operation obfuscates)."""
    key, length = _key(algorithm, identifier)
    prefix = bytes(byte ^ key[index % len(key)] for index, byte in enumerate(data[:length]))
    return prefix + data[length:]
