"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), through pywebpush.

The push service's answer decides what happens next: 201 delivered; 404 or 410 the subscription is gone (the
device unsubscribed) and is never tried again; 429, 5xx or no answer is temporary; any other 4xx refuses this
message. The VAPID key comes from a PEM file named in the settings, never from code.

Where notify POSTs is decided by ``notify.domain.push_endpoints``: the URL is checked before every send, the
host is resolved by :class:`PublicAddressResolver`, which hands aiohttp only addresses it has just checked (so
the connection goes to exactly those: DNS rebinding gains nothing), and redirects are not followed. An endpoint
that fails these checks is treated like a 410: the subscription is marked expired and never tried again.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02  # type: ignore[import-untyped]
from pywebpush import WebPusher  # type: ignore[import-untyped]

from notify.domain.push_endpoints import (
    EndpointRefused,
    PushEndpoint,
    PushEndpointPolicy,
    address_refusal,
    checked_endpoint,
)
from notify.service_layer.channels import PushDeferred, PushGone, PushRejected, PushTarget

__all__ = ["PushDeferred", "PushGone", "PushRejected", "PushTarget", "WebPushSender"]

VAPID_CLAIM_LIFETIME_SECONDS = 12 * 60 * 60


class PublicAddressResolver(AbstractResolver):
    """Resolves a push service's name and returns its addresses only if every one is public; otherwise raises
    EndpointRefused (not an OSError, so aiohttp passes it through unwrapped). A name that does not resolve
    raises the resolver's OSError (temporary at send time)."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not results:
            raise OSError(f"{host} has no address")
        for result in results:
            try:
                address = ipaddress.ip_address(result["host"])
            except ValueError:
                raise EndpointRefused(f"{host} resolves to {result['host']}, which is not an IP address") from None
            refusal = address_refusal(address)
            if refusal:
                raise EndpointRefused(f"{host} resolves to {address}, {refusal}")
        return results

    async def close(self) -> None:
        await self._inner.close()


class PushEndpointGuard:
    """The policy and the resolver together: what the subscribe route asks before storing an endpoint."""

    def __init__(self, policy: PushEndpointPolicy, resolver: AbstractResolver) -> None:
        self.policy = policy
        self.resolver = resolver

    async def check(self, url: str) -> PushEndpoint:
        """The endpoint if notify may send to it now; EndpointRefused (with the reason) if not."""
        endpoint = checked_endpoint(url, self.policy)
        if _is_ip_literal(endpoint.host):  # only the test receiver's loopback address gets here
            return endpoint
        try:
            await self.resolver.resolve(endpoint.host, endpoint.port)
        except OSError:
            raise EndpointRefused(f"{endpoint.host} does not resolve to any address") from None
        return endpoint

    def http_session(self) -> aiohttp.ClientSession:
        """An HTTP client that connects only to addresses this guard's resolver has checked."""
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=self.resolver), trust_env=False)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def load_vapid_key(path: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{path} is not an EC P-256 private key (VAPID needs one)")
    return key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class WebPushSender:
    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        *,
        subject: str,
        http: aiohttp.ClientSession,
        policy: PushEndpointPolicy,
        ttl_seconds: int = 86_400,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._vapid = Vapid02(private_key)
        self.subject = subject
        self.http = http
        self.policy = policy
        self.ttl_seconds = ttl_seconds
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        # What a browser passes as applicationServerKey to PushManager.subscribe().
        self.public_key = _b64url(raw)

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        claims = {
            "sub": self.subject,
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + VAPID_CLAIM_LIFETIME_SECONDS,
        }
        headers: dict[str, str] = self._vapid.sign(claims)
        return headers

    async def send(self, target: PushTarget, payload: dict[str, Any]) -> None:
        """Encrypt ``payload`` (JSON) for ``target`` and POST it to its push service."""
        try:
            checked_endpoint(target.endpoint, self.policy)  # the policy may have changed since it subscribed
        except EndpointRefused as error:
            raise PushGone(f"endpoint refused: {error}") from error
        pusher = WebPusher({"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}})
        body = pusher.encode(json.dumps(payload, ensure_ascii=False).encode(), "aes128gcm")["body"]
        headers = {
            **self._vapid_headers(target.endpoint),
            "Content-Encoding": "aes128gcm",
            "TTL": str(self.ttl_seconds),
            "Urgency": "normal",
        }
        try:
            async with self.http.post(
                target.endpoint, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            ) as response:
                status, reason_phrase = response.status, response.reason
        except EndpointRefused as error:  # from PublicAddressResolver, before any connection
            raise PushGone(f"endpoint refused: {error}") from error
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise PushDeferred(f"{type(error).__name__}: {error}") from error
        if status in (200, 201, 202):
            return
        reason = f"{status} {reason_phrase or ''}".strip()
        if status in (404, 410):
            raise PushGone(reason)
        if status == 429 or status >= 500:
            raise PushDeferred(reason)
        raise PushRejected(reason)
