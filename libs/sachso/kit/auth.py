"""Bearer tokens: asymmetric JWTs with key ids, published as JWKS, verified against trusted JWKS endpoints.

:class:`TokenIssuer` signs (lending issues user tokens, drm streaming tokens; tests use a generated one).
Rotation: the issuer signs with its first key and publishes all of them, so tokens signed by a retired key stay
valid until they expire. :class:`TokenVerifier` fetches and caches the JWKS of each trusted issuer, refetching
(rate-limited) when it meets an unknown ``kid``; it accepts only asymmetric algorithms and checks signature,
expiry, not-before, issuer and audience.

Trust is bound, not pooled: a key counts only for the issuer whose JWKS published it (pinned by the operator as
``issuer=url``, or declared by the JWKS document itself), and each issuer may assert only the roles and
audiences its :class:`IssuerGrant` lists. So a token signed by DRM's key can never speak for lending, and a DRM
or reader token can never claim a librarian's or an admin's role.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from sachso.kit.errors import Unauthenticated
from sachso.kit.tokens import Principal as Principal
from sachso.kit.tokens import Role as Role
from sachso.kit.tokens import SigningKey as SigningKey
from sachso.kit.tokens import TokenIssuer as TokenIssuer

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("ES256", "RS256", "EdDSA")
LEEWAY_SECONDS = 5


@dataclass(frozen=True)
class IssuerGrant:
    """What one issuer may assert: the roles its tokens carry and the audiences they are for."""

    roles: frozenset[Role]
    audiences: frozenset[str]

    @classmethod
    def of(cls, roles: Iterable[str], audiences: Iterable[str]) -> IssuerGrant:
        return cls(frozenset(Role(role) for role in roles), frozenset(audiences))


# Lending signs in people (patrons, staff, publishers) and calls DRM as a service; DRM calls lending as a service
# and signs streaming tokens (no role, their own audience); the reader calls DRM as a service for content keys.
DEFAULT_ISSUER_GRANTS: Mapping[str, IssuerGrant] = {
    "sachso-lending": IssuerGrant(frozenset(Role), frozenset({"sachso"})),
    "sachso-drm": IssuerGrant(frozenset({Role.SERVICE}), frozenset({"sachso", "sachso-streaming"})),
    "sachso-reader": IssuerGrant(frozenset({Role.SERVICE}), frozenset({"sachso"})),
}


def jwks_source(entry: str) -> tuple[str | None, str]:
    """``issuer=url`` pins the issuer a JWKS speaks for; a bare URL leaves it to the document's ``issuer``."""
    name, separator, url = entry.partition("=")
    if separator and "://" not in name and name.strip():
        return name.strip(), url.strip()
    return None, entry.strip()


@dataclass(frozen=True)
class _TrustedKey:
    jwk: jwt.PyJWK
    issuer: str


class TokenVerifier:
    """Verifies bearer tokens against the JWKS of the issuers this service trusts, within each issuer's grant."""

    def __init__(
        self,
        jwks_urls: Sequence[str],
        *,
        issuers: Iterable[str],
        audience: str,
        http: httpx.AsyncClient,
        cache_seconds: float = 300.0,
        min_refresh_interval_seconds: float = 10.0,
        grants: Mapping[str, IssuerGrant] = DEFAULT_ISSUER_GRANTS,
    ) -> None:
        self.issuers = frozenset(issuers)
        missing = sorted(self.issuers - set(grants))
        if missing:
            raise ValueError(f"no grant (roles and audiences) for trusted issuer(s) {', '.join(missing)}")
        self.grants = {issuer: grants[issuer] for issuer in self.issuers}
        self.sources = [jwks_source(entry) for entry in jwks_urls]
        self.audience = audience
        self.http = http
        self.cache_seconds = cache_seconds
        self.min_refresh_interval_seconds = min_refresh_interval_seconds
        self._keys: dict[str, _TrustedKey] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    def _issuer_of(self, pinned: str | None, document: Mapping[str, Any], url: str) -> str | None:
        """Whom a fetched JWKS speaks for: the pinned issuer, else the one it declares, else the only one trusted."""
        declared = document.get("issuer")
        if pinned is not None and declared not in (None, pinned):
            log.warning("JWKS declares another issuer than pinned; ignored", extra={"url": url})
            return None
        issuer = pinned or declared
        if issuer is None and len(self.issuers) == 1:
            (issuer,) = self.issuers
        if issuer not in self.issuers:
            if issuer is None:
                log.warning("JWKS names no issuer and none is pinned (issuer=url); ignored", extra={"url": url})
            return None
        return str(issuer)

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if age < self.min_refresh_interval_seconds or (not force and age < self.cache_seconds):
                return
            keys: dict[str, _TrustedKey] = {}
            for pinned, url in self.sources:
                try:
                    response = await self.http.get(url, timeout=5.0)
                    response.raise_for_status()
                    document = response.json()
                    issuer = self._issuer_of(pinned, document, url)
                    if issuer is None:
                        continue
                    for jwk in jwt.PyJWKSet.from_dict(document).keys:
                        if jwk.key_id and jwk.key_id not in keys:  # a key counts for the first issuer publishing it
                            keys[jwk.key_id] = _TrustedKey(jwk, issuer)
                except (httpx.HTTPError, jwt.PyJWKSetError, ValueError, AttributeError) as error:
                    log.warning("could not fetch JWKS", extra={"url": url, "error": repr(error)})
            if keys:  # keep the previous keys rather than none when every issuer is unreachable
                self._keys = keys
            self._fetched_at = time.monotonic()

    async def _key_for(self, kid: str) -> _TrustedKey:
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthenticated("token signed with an unknown key id") from None

    async def verify(self, token: str, *, audience: str | None = None) -> Principal:
        """The principal of a valid token; :class:`Unauthenticated` with the reason otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token") from None
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise Unauthenticated(f"token algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthenticated("token has no key id")
        trusted = await self._key_for(kid)
        jwk = trusted.jwk
        if jwk.algorithm_name != algorithm:
            raise Unauthenticated("token algorithm does not match its key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                jwk.key,
                algorithms=[algorithm],
                audience=audience or self.audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("token is for another audience") from None
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"invalid token: {error}") from None
        if claims["iss"] not in self.issuers:
            raise Unauthenticated("token from an untrusted issuer")
        if claims["iss"] != trusted.issuer:
            raise Unauthenticated("token signed by another issuer's key")
        principal = principal_from_claims(claims)
        grant = self.grants[trusted.issuer]
        if (audience or self.audience) not in grant.audiences:
            raise Unauthenticated(f"{trusted.issuer} may not issue tokens for this audience")
        beyond = principal.roles - grant.roles
        if beyond:
            raise Unauthenticated(f"{trusted.issuer} may not assert the role(s) {', '.join(sorted(beyond))}")
        return principal


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    roles = set()
    for role in claims.get("roles", ()):
        try:
            roles.add(Role(role))
        except ValueError:
            continue  # a role this version does not know grants nothing
    exp = claims.get("exp")
    return Principal(
        subject=str(claims["sub"]),
        roles=frozenset(roles),
        token_id=claims.get("jti"),
        library_id=claims.get("library_id"),
        publisher_id=claims.get("publisher_id"),
        expires_at=float(exp) if exp is not None else None,
        claims=dict(claims),
    )
