"""Who calls (:class:`Principal`, :class:`Role`) and how tokens are signed (:class:`TokenIssuer`) — no I/O, so a
service layer may issue tokens and reason about principals; verification against JWKS endpoints is in
:mod:`sachso.kit.auth`."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


class Role(StrEnum):
    PATRON = "patron"
    LIBRARIAN = "librarian"
    LIBRARY_ADMIN = "library-admin"
    PROVINCE_ADMIN = "province-admin"
    PUBLISHER = "publisher"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the verified token says."""

    subject: str
    roles: frozenset[Role]
    token_id: str | None = None
    library_id: str | None = None
    publisher_id: str | None = None
    expires_at: float | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)

    def has_any_role(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    algorithm: str = "ES256"

    @classmethod
    def generate(cls) -> SigningKey:
        return cls.of(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def of(cls, private_key: ec.EllipticCurvePrivateKey) -> SigningKey:
        """The key id is the RFC 7638 thumbprint, so two issuers' keys can never share an id."""
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        members = json.dumps({name: jwk[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":"))
        thumbprint = base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).rstrip(b"=").decode()
        return cls(kid=thumbprint, private_key=private_key)

    @classmethod
    def from_pem(cls, pem: bytes, *, name: str = "signing key") -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"{name} is not an EC P-256 private key")
        return cls.of(key)

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


class TokenIssuer:
    """Signs tokens with the first key; publishes every key's public half."""

    def __init__(self, issuer: str, keys: Sequence[SigningKey]) -> None:
        if not keys:
            raise ValueError("a token issuer needs at least one signing key")
        self.issuer = issuer
        self.keys = tuple(keys)

    @classmethod
    def from_files(cls, issuer: str, paths: Sequence[str]) -> TokenIssuer:
        """Keys from PEM files; the first file signs, the others are still published (key rotation)."""
        return cls(issuer, [SigningKey.from_pem(Path(path).read_bytes(), name=path) for path in paths])

    @classmethod
    def generate(cls, issuer: str) -> TokenIssuer:
        """An issuer with a fresh key (tests and local development)."""
        return cls(issuer, [SigningKey.generate()])

    def issue(
        self,
        subject: str,
        *,
        audience: str,
        roles: Iterable[Role] = (),
        ttl_seconds: float = 900,
        not_before: float | None = None,
        **claims: Any,
    ) -> str:
        now = time.time()
        payload = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": int(now),
            "nbf": int(not_before if not_before is not None else now),
            "exp": int(now + ttl_seconds),
            "jti": uuid.uuid4().hex,
            "roles": sorted(str(role) for role in roles),
            **claims,
        }
        key = self.keys[0]
        return jwt.encode(payload, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid})

    def jwks(self) -> dict[str, Any]:
        """The public keys, with the issuer they speak for (RFC 7517 lets a JWK Set carry more members)."""
        return {"keys": [key.public_jwk() for key in self.keys], "issuer": self.issuer}
