"""Readium LCP, basic profile (http://readium.org/lcp/basic-profile): keys, licences, signatures, encryption.

- The user key is SHA-256 of the patron's passphrase; ``key_check`` is the licence id encrypted with it.
- The content key (32 random bytes per publication) is stored in the licence encrypted with the user key.
- Resources are AES-256-CBC with a random IV prefixed to the ciphertext and W3C padding (the last byte is the pad
  length); compressible resources are raw-deflated first (``Compression Method="8"``).
- A licence is signed over its canonical JSON without ``signature``: keys sorted by code point at every level,
  no whitespace, arrays in order, UTF-8 not escaped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BASIC_PROFILE = "http://readium.org/lcp/basic-profile"
AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
LICENSE_TYPE = "application/vnd.readium.lcp.license.v1.0+json"
STATUS_TYPE = "application/vnd.readium.license.status.v1.0+json"
BLOCK = 16


class LcpError(ValueError):
    """A licence or resource that does not open: wrong passphrase, tampering, corruption."""


def user_key(passphrase: str) -> bytes:
    return hashlib.sha256(passphrase.encode("utf-8")).digest()


def encrypt(key: bytes, plaintext: bytes, iv: bytes | None = None) -> bytes:
    """IV + AES-256-CBC(plaintext + W3C padding)."""
    iv = iv or os.urandom(BLOCK)
    pad = BLOCK - len(plaintext) % BLOCK
    padded = plaintext + os.urandom(pad - 1) + bytes([pad])  # W3C padding: only the last byte is specified
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(padded) + encryptor.finalize()


def seal_for_user(key: bytes, content_key: bytes, key_check: bytes) -> tuple[str, str]:
    """``content_key`` and ``key_check`` each AES-256-CBC encrypted with the user key as :func:`encrypt` does
    (IV prefixed, W3C padding), in base64: what every licence carries, made with one AES set-up and one pass.

    The pass encrypts ``padded(content_key) || R || padded(key_check)`` with a random IV, ``R`` a fresh random
    block. Its output splits into the content key's ciphertext (IV and its blocks) and the key check's, whose IV
    is the block ``E_K(R xor C)`` — a forward-cipher image of a fresh random value, an unpredictable IV as NIST SP
    800-38A (appendix C) recommends generating one. Each decrypts on its own with :func:`decrypt`."""
    random = os.urandom(4 * BLOCK)  # IV, R, and the paddings' unspecified bytes (fewer than a block each)
    iv, bridge = random[:BLOCK], random[BLOCK : 2 * BLOCK]
    first, second = _padded(content_key, random[2 * BLOCK :]), _padded(key_check, random[3 * BLOCK :])
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    sealed = encryptor.update(first + bridge + second) + encryptor.finalize()
    split = len(first)
    return b64(iv + sealed[:split]), b64(sealed[split:])


def _padded(plaintext: bytes, filler: bytes) -> bytes:
    """W3C padding: the last byte is the pad length; the others are not specified (``filler``'s, random)."""
    pad = BLOCK - len(plaintext) % BLOCK
    return plaintext + filler[: pad - 1] + bytes([pad])


def decrypt(key: bytes, data: bytes) -> bytes:
    if len(data) < 2 * BLOCK or len(data) % BLOCK:
        raise LcpError("the encrypted data has an impossible length")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(data[:BLOCK])).decryptor()
    padded = decryptor.update(data[BLOCK:]) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= BLOCK:
        raise LcpError("bad padding: wrong key or corrupted data")
    return padded[:-pad]


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def inflate(data: bytes) -> bytes:
    return zlib.decompress(data, -15)


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes a licence signature covers."""
    body = {key: value for key, value in document.items() if key != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


class Provider:
    """The licence provider: its certificate and private key (RSA or EC P-256) sign licences.

    What every signature repeats — the certificate's DER in base64, the padding and hash objects — is made once
    here, so a licence costs its private-key operation and little else."""

    def __init__(self, certificate: x509.Certificate, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
        self.certificate = certificate
        self.key = key
        self._certificate_b64 = b64(certificate.public_bytes(serialization.Encoding.DER))
        self._sha256 = hashes.SHA256()
        self._pkcs1 = padding.PKCS1v15()
        self._ecdsa = ec.ECDSA(self._sha256)

    @classmethod
    def from_pem(cls, certificate_pem: bytes, key_pem: bytes) -> Provider:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise LcpError("the provider key must be RSA or EC")
        return cls(x509.load_pem_x509_certificate(certificate_pem), key)

    def signature(self, data: bytes) -> dict[str, str]:
        """The ``signature`` object over ``data`` (a licence's canonical JSON)."""
        if isinstance(self.key, rsa.RSAPrivateKey):
            value, algorithm = self.key.sign(data, self._pkcs1, self._sha256), RSA_SHA256
        else:
            value, algorithm = self.key.sign(data, self._ecdsa), ECDSA_SHA256
        return {"algorithm": algorithm, "certificate": self._certificate_b64, "value": b64(value)}

    def sign(self, document: dict[str, Any]) -> dict[str, Any]:
        return {**document, "signature": self.signature(canonical(document))}

    def signed_canonical(self, data: bytes) -> bytes:
        """The signed licence as JSON bytes: ``data`` (a licence's canonical JSON, without signature) with the
        signature over it spliced in — its key order is not canonical, which verifiers need not (they
        canonicalise again), and the JSON is not written twice."""
        signature = self.signature(data)
        return b"".join((
            data[:-1], b',"signature":{"algorithm":"', signature["algorithm"].encode(), b'","certificate":"',
            signature["certificate"].encode(), b'","value":"', signature["value"].encode(), b'"}}',
        ))  # fmt: skip


def verify_signature(document: dict[str, Any]) -> x509.Certificate:
    """Check the licence signature against its embedded certificate; return the certificate (chain is the caller's)."""
    signature = document.get("signature") or {}
    try:
        certificate = x509.load_der_x509_certificate(unb64(signature["certificate"]))
        value = unb64(signature["value"])
    except (KeyError, ValueError) as error:
        raise LcpError(f"the licence signature is missing or malformed: {error}") from None
    public_key = certificate.public_key()
    data = canonical(document)
    try:
        if signature.get("algorithm") == RSA_SHA256 and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(value, data, padding.PKCS1v15(), hashes.SHA256())
        elif signature.get("algorithm") == ECDSA_SHA256 and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(value, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise LcpError(f"unsupported signature algorithm {signature.get('algorithm')}")
    except InvalidSignature:
        raise LcpError("the licence signature does not match its content (tampered)") from None
    return certificate


def open_license(document: dict[str, Any], passphrase: str) -> bytes:
    """The content key of a licence, for this passphrase (what a reading system does)."""
    encryption = document.get("encryption", {})
    if encryption.get("profile") != BASIC_PROFILE:
        raise LcpError(f"unsupported encryption profile {encryption.get('profile')}")
    key = user_key(passphrase)
    try:
        sealed = unb64(encryption["user_key"]["key_check"])
    except (KeyError, ValueError) as error:
        raise LcpError(f"the licence has no usable key check: {error}") from None
    try:
        checked = decrypt(key, sealed)
    except LcpError:
        raise LcpError("wrong passphrase") from None
    if checked != document.get("id", "").encode():
        raise LcpError("wrong passphrase")
    content_key = decrypt(key, unb64(encryption["content_key"]["encrypted_value"]))
    if len(content_key) != 32:
        raise LcpError("the content key is not 32 bytes")
    return content_key


def decrypt_resource(content_key: bytes, data: bytes, compressed: bool) -> bytes:
    plain = decrypt(content_key, data)
    return inflate(plain) if compressed else plain


def encrypt_resource(content_key: bytes, data: bytes, compress: bool) -> bytes:
    return encrypt(content_key, deflate(data) if compress else data)
