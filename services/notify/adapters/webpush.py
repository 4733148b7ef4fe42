"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), through pywebpush.

The push service's answer decides what happens next: 201 delivered; 404 or 410 the subscription is gone (the
device unsubscribed) and is never tried again; 429, 5xx or no answer is temporary; any other 4xx refuses this
message. The VAPID key comes from a PEM file named in the settings, never from code.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02  # type: ignore[import-untyped]
from pywebpush import WebPusher  # type: ignore[import-untyped]

VAPID_CLAIM_LIFETIME_SECONDS = 12 * 60 * 60


@dataclass(frozen=True)
class PushTarget:
    """A browser's push subscription: where to POST and the keys to encrypt for."""

    endpoint: str
    p256dh: str
    auth: str


class PushGone(Exception):
    """404/410: the subscription no longer exists."""


class PushRejected(Exception):
    """The push service refused this message for good (400, 403, 413, …)."""


class PushDeferred(Exception):
    """Temporary: 429, 5xx, a timeout or a refused connection."""


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
        ttl_seconds: int = 86_400,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._vapid = Vapid02(private_key)
        self.subject = subject
        self.http = http
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
        pusher = WebPusher(
            {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}},
            aiohttp_session=self.http,
        )
        data = json.dumps(payload, ensure_ascii=False).encode()
        headers = {**self._vapid_headers(target.endpoint), "Urgency": "normal"}
        try:
            response = await pusher.send_async(
                data, headers, ttl=self.ttl_seconds, content_encoding="aes128gcm", timeout=self.timeout
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise PushDeferred(f"{type(error).__name__}: {error}") from error
        status = int(response.status)
        if status in (200, 201, 202):
            return
        reason = f"{status} {response.reason or ''}".strip()
        if status in (404, 410):
            raise PushGone(reason)
        if status == 429 or status >= 500:
            raise PushDeferred(reason)
        raise PushRejected(reason)
