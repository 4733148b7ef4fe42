"""Opening resources of an LCP-protected publication (AES-256-CBC, IV first, W3C padding, maybe deflated)."""

from __future__ import annotations

import zlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
BLOCK = 16


class UndecryptableResource(ValueError):
    pass


def decrypt_resource(content_key: bytes, data: bytes, deflated: bool) -> bytes:
    """The resource's own bytes; ranges are then cut from these (never from the ciphertext)."""
    if len(data) < 2 * BLOCK or len(data) % BLOCK:
        raise UndecryptableResource("the encrypted resource has an impossible length")
    decryptor = Cipher(algorithms.AES(content_key), modes.CBC(data[:BLOCK])).decryptor()
    padded = decryptor.update(data[BLOCK:]) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= BLOCK:
        raise UndecryptableResource("wrong content key or corrupted resource")
    plain = padded[:-pad]
    try:
        return zlib.decompress(plain, -15) if deflated else plain
    except zlib.error as error:
        raise UndecryptableResource(f"the resource does not inflate: {error}") from None
