"""Token issuing and verification: every way a token can be wrong is refused with a reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sachso.kit.auth import DEFAULT_ISSUER_GRANTS, IssuerGrant, Role, SigningKey, TokenIssuer, TokenVerifier
from sachso.kit.errors import Unauthenticated

AUDIENCE = "sachso"
JWKS_URL = "http://issuer.test/.well-known/jwks.json"


def verifier_for(*issuers: TokenIssuer, jwks: Callable[[], dict[str, object]] | None = None) -> TokenVerifier:
    def serve(request: httpx.Request) -> httpx.Response:
        keys = jwks() if jwks else {"keys": [key for issuer in issuers for key in issuer.jwks()["keys"]]}
        return httpx.Response(200, json=keys)

    http = httpx.AsyncClient(transport=httpx.MockTransport(serve))
    return TokenVerifier(
        [JWKS_URL],
        issuers=[issuer.issuer for issuer in issuers],
        audience=AUDIENCE,
        http=http,
        min_refresh_interval_seconds=0,
    )


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer.generate("sachso-lending")


async def test_valid_token_gives_principal(issuer: TokenIssuer) -> None:
    token = issuer.issue("patron-1", audience=AUDIENCE, roles=[Role.PATRON, "unknown"], library_id="lib-1")  # type: ignore[list-item]
    principal = await verifier_for(issuer).verify(token)
    assert principal.subject == "patron-1"
    assert principal.roles == frozenset({Role.PATRON})
    assert principal.library_id == "lib-1"
    assert principal.has_any_role(Role.PATRON, Role.LIBRARIAN)
    assert not principal.has_any_role(Role.LIBRARIAN)


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: Mapping[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_alg_none_is_refused(issuer: TokenIssuer) -> None:
    token = issuer.issue("p", audience=AUDIENCE)
    _header, payload, _ = _segments(token)
    forged = f"{_b64({'alg': 'none', 'kid': issuer.keys[0].kid})}.{payload}."
    with pytest.raises(Unauthenticated, match="algorithm 'none'"):
        await verifier_for(issuer).verify(forged)


async def test_symmetric_algorithm_with_public_key_as_secret_is_refused(issuer: TokenIssuer) -> None:
    public_pem = (
        issuer.keys[0]
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = {"sub": "p", "aud": AUDIENCE, "iss": issuer.issuer, "exp": time.time() + 60, "iat": time.time()}
    header = {"alg": "HS256", "kid": issuer.keys[0].kid, "typ": "JWT"}
    body = f"{_b64(header)}.{_b64(claims)}"
    signature = base64.urlsafe_b64encode(hmac.new(public_pem, body.encode(), hashlib.sha256).digest()).rstrip(b"=")
    with pytest.raises(Unauthenticated, match="HS256"):
        await verifier_for(issuer).verify(f"{body}.{signature.decode()}")


async def test_algorithm_not_matching_the_key_is_refused(issuer: TokenIssuer) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(
        {"sub": "p", "aud": AUDIENCE, "iss": issuer.issuer, "exp": time.time() + 60, "iat": time.time()},
        rsa_key,
        algorithm="RS256",
        headers={"kid": issuer.keys[0].kid},
    )
    with pytest.raises(Unauthenticated, match="does not match its key"):
        await verifier_for(issuer).verify(token)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"audience": "another-service"}, "another audience"),
        ({"audience": AUDIENCE, "ttl_seconds": -60}, "expired"),
        ({"audience": AUDIENCE, "not_before": time.time() + 3600}, "not valid yet"),
    ],
)
async def test_wrong_claims_are_refused(issuer: TokenIssuer, kwargs: dict[str, object], reason: str) -> None:
    token = issuer.issue("p", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated, match=reason):
        await verifier_for(issuer).verify(token)


async def test_untrusted_issuer_is_refused(issuer: TokenIssuer) -> None:
    impostor = TokenIssuer("someone-else", issuer.keys)
    token = impostor.issue("p", audience=AUDIENCE)
    with pytest.raises(Unauthenticated, match="untrusted issuer"):
        await verifier_for(issuer).verify(token)


async def test_unknown_key_id_is_refused(issuer: TokenIssuer) -> None:
    stranger = TokenIssuer(issuer.issuer, [SigningKey.generate()])
    with pytest.raises(Unauthenticated, match="unknown key id"):
        await verifier_for(issuer).verify(stranger.issue("p", audience=AUDIENCE))


async def test_tampered_signature_and_payload_are_refused(issuer: TokenIssuer) -> None:
    token = issuer.issue("patron-1", audience=AUDIENCE, roles=[Role.PATRON])
    header, payload, signature = _segments(token)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["province-admin"]
    verifier = verifier_for(issuer)
    with pytest.raises(Unauthenticated, match="invalid token"):
        await verifier.verify(f"{header}.{_b64(claims)}.{signature}")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(Unauthenticated, match="invalid token"):
        await verifier.verify(f"{header}.{payload}.{flipped}")


async def test_malformed_token_is_refused(issuer: TokenIssuer) -> None:
    with pytest.raises(Unauthenticated, match="malformed"):
        await verifier_for(issuer).verify("not-a-jwt")


async def test_rotation_new_key_signs_and_old_tokens_stay_valid(issuer: TokenIssuer) -> None:
    old_token = issuer.issue("p", audience=AUDIENCE)
    rotated = TokenIssuer(issuer.issuer, [SigningKey.generate(), *issuer.keys])
    published = {"jwks": issuer.jwks()}
    verifier = verifier_for(issuer, jwks=lambda: published["jwks"])
    assert (await verifier.verify(old_token)).subject == "p"
    published["jwks"] = rotated.jwks()  # the verifier refetches when it meets the new kid
    new_token = rotated.issue("q", audience=AUDIENCE)
    assert jwt.get_unverified_header(new_token)["kid"] == rotated.keys[0].kid
    assert (await verifier.verify(new_token)).subject == "q"
    assert (await verifier.verify(old_token)).subject == "p"


def test_signing_key_round_trips_through_pem_and_its_id_is_the_rfc7638_thumbprint() -> None:
    key = SigningKey.generate()
    loaded = SigningKey.from_pem(key.private_pem())
    assert loaded.public_jwk() == key.public_jwk()
    assert key.kid != SigningKey.generate().kid  # two issuers' keys never collide in a merged JWKS
    # RFC 7638 section 3.1 fixes the members and their order; recompute it independently
    jwk = key.public_jwk()
    canonical = f'{{"crv":"{jwk["crv"]}","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'
    digest = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert key.kid == digest


def test_signing_key_refuses_a_key_of_another_kind() -> None:
    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="not an EC P-256"):
        SigningKey.from_pem(pem)


# -- issuers are bound to their keys, roles and audiences (issue 12, item 9) --------------------------------------


def platform_verifier(
    *issuers: TokenIssuer, audience: str = AUDIENCE, pin: bool = True, **kwargs: object
) -> TokenVerifier:
    """A verifier trusting each issuer's own JWKS URL, as a deployed service does."""
    by_url = {f"http://{issuer.issuer}.test/jwks": issuer for issuer in issuers}

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=by_url[str(request.url)].jwks())

    http = httpx.AsyncClient(transport=httpx.MockTransport(serve))
    entries = [f"{issuer.issuer}={url}" if pin else url for url, issuer in by_url.items()]
    return TokenVerifier(
        entries,
        issuers=[issuer.issuer for issuer in issuers],
        audience=audience,
        http=http,
        min_refresh_interval_seconds=0,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("pin", [True, False])
async def test_a_drm_token_claiming_province_admin_is_refused(pin: bool) -> None:
    lending, drm = TokenIssuer.generate("sachso-lending"), TokenIssuer.generate("sachso-drm")
    verifier = platform_verifier(lending, drm, pin=pin)
    forged = drm.issue("mallory", audience=AUDIENCE, roles=[Role.PROVINCE_ADMIN], library_id="daklak")
    with pytest.raises(Unauthenticated, match="sachso-drm may not assert the role"):
        await verifier.verify(forged)
    service = await verifier.verify(drm.issue("drm", audience=AUDIENCE, roles=[Role.SERVICE]))
    assert service.roles == {Role.SERVICE}
    admin = await verifier.verify(lending.issue("an", audience=AUDIENCE, roles=[Role.PROVINCE_ADMIN]))
    assert admin.roles == {Role.PROVINCE_ADMIN}


@pytest.mark.parametrize("pin", [True, False])
async def test_a_key_speaks_only_for_its_own_issuer(pin: bool) -> None:
    lending, drm = TokenIssuer.generate("sachso-lending"), TokenIssuer.generate("sachso-drm")
    verifier = platform_verifier(lending, drm, pin=pin)
    impersonating = TokenIssuer("sachso-lending", drm.keys)  # DRM's key, lending's name
    with pytest.raises(Unauthenticated, match="another issuer's key"):
        await verifier.verify(impersonating.issue("mallory", audience=AUDIENCE, roles=[Role.PROVINCE_ADMIN]))


async def test_an_issuer_may_sign_only_for_its_audiences() -> None:
    lending, drm = TokenIssuer.generate("sachso-lending"), TokenIssuer.generate("sachso-drm")
    streaming = platform_verifier(lending, drm, audience="sachso-streaming")
    with pytest.raises(Unauthenticated, match="sachso-lending may not issue tokens for this audience"):
        await streaming.verify(lending.issue("ana", audience="sachso-streaming"))
    assert (await streaming.verify(drm.issue("ana", audience="sachso-streaming"))).subject == "ana"


async def test_grants_are_configurable_and_a_pinned_url_must_not_disagree() -> None:
    lending, drm = TokenIssuer.generate("sachso-lending"), TokenIssuer.generate("sachso-drm")
    grants = {**DEFAULT_ISSUER_GRANTS, "sachso-drm": IssuerGrant.of([], ["sachso-streaming"])}
    verifier = platform_verifier(lending, drm, grants=grants)
    with pytest.raises(Unauthenticated, match="sachso-drm may not issue tokens for this audience"):
        await verifier.verify(drm.issue("drm", audience=AUDIENCE, roles=[Role.SERVICE]))
    with pytest.raises(ValueError, match="no grant"):
        platform_verifier(TokenIssuer.generate("someone-new"))
    # a JWKS that declares another issuer than the operator pinned is not trusted at all
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=drm.jwks())))
    pinned = TokenVerifier(
        ["sachso-lending=http://lending.test/jwks"], issuers=["sachso-lending", "sachso-drm"], audience=AUDIENCE,
        http=http, min_refresh_interval_seconds=0,
    )  # fmt: skip
    with pytest.raises(Unauthenticated, match="unknown key id"):
        await pinned.verify(drm.issue("drm", audience=AUDIENCE, roles=[Role.SERVICE]))
