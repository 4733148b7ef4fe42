"""Which Web Push endpoints notify accepts and sends to: only https push services on public addresses, checked
again at each send against the address the connection then uses (issue 12, item 5)."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from notify.adapters.webpush import (
    PublicAddressResolver,
    PushEndpointGuard,
    PushGone,
    PushTarget,
    WebPushSender,
)
from notify.domain.push_endpoints import (
    EndpointRefused,
    PushEndpointPolicy,
    address_refusal,
    checked_endpoint,
)
from notify.settings import NotifySettings

STRICT = PushEndpointPolicy()
FCM = "https://fcm.googleapis.com/fcm/send/dXk3"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://fcm.googleapis.com/fcm/send/x", "https URL"),
        ("ftp://fcm.googleapis.com/x", "https URL"),
        ("https://127.0.0.1/push", "loopback"),
        ("https://[::1]/push", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://10.1.2.3/push", "private"),
        ("https://192.168.0.10/push", "private"),
        ("https://172.16.5.4/push", "private"),
        ("https://100.64.0.1/push", "not a public address"),  # carrier-grade NAT
        ("https://0.0.0.0/push", "unspecified"),
        ("https://224.0.0.1/push", "multicast"),
        ("https://240.0.0.1/push", "reserved"),
        ("https://[fe80::1]/push", "link-local"),
        ("https://[fc00::1]/push", "private"),
        ("https://[fec0::1]/push", "site-local"),
        ("https://[::ffff:127.0.0.1]/push", "IPv4-mapped"),
        ("https://[::ffff:7f00:1]/push", "IPv4-mapped"),
        ("https://[::ffff:8.8.8.8]/push", "IPv4-mapped"),
        ("https://[64:ff9b::a9fe:a9fe]/push", "link-local"),  # NAT64 of 169.254.169.254
        ("https://[2002:7f00:1::]/push", "tunnelled"),  # 6to4 of 127.0.0.1
        ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/push", "tunnelled"),  # Teredo
        ("https://8.8.8.8/push", "by name"),  # public, but push services have names
        ("https://2130706433/push", "numeric address in disguise"),  # decimal 127.0.0.1
        ("https://0177.0.0.1/push", "numeric address in disguise"),  # octal
        ("https://0x7f000001/push", "numeric address in disguise"),  # hexadecimal
        ("https://0x7f.1/push", "numeric address in disguise"),
        ("https://127.1/push", "numeric address in disguise"),
        ("https://localhost/push", "single-label"),
        ("https://push.localhost/push", "special-use"),
        ("https://lending/v1/loans", "single-label"),  # a Kubernetes Service's short name
        ("https://sachso-lending.sachso.svc/v1", "special-use"),
        ("https://kafka.sachso.svc.cluster.local/", "special-use"),
        ("https://metadata.google.internal/computeMetadata/v1", "special-use"),
        ("https://router.local/", "special-use"),
        ("https://user:secret@fcm.googleapis.com/fcm/send/x", "user name"),
        ("https://fcm.googleapis.com:8443/fcm/send/x", "port"),
        ("https://fcm.googleapis.com:99999/x", "not a valid URL"),
        ("https://bad_host.example.com/x", "not a valid host name"),
        ("https://xn--bcher-kva.ch.\u0301/x", "ASCII"),
        ("https:///push", "no host"),
    ],
)
def test_hostile_endpoints_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(EndpointRefused, match=reason):
        checked_endpoint(url, STRICT)


@pytest.mark.parametrize(
    "url",
    [
        FCM,
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAA",
        "https://web.push.apple.com/QGuQyavXutnMH",
        "https://FCM.googleapis.com.:443/fcm/send/x",
    ],
)
def test_browser_vendors_push_services_are_accepted(url: str) -> None:
    endpoint = checked_endpoint(url, STRICT)
    assert endpoint.port == 443
    assert endpoint.host == endpoint.host.lower().rstrip(".")


def test_an_allow_list_limits_endpoints_to_known_push_services() -> None:
    policy = PushEndpointPolicy(allowed_domains=("googleapis.com", "push.services.mozilla.com"))
    assert checked_endpoint(FCM, policy).host == "fcm.googleapis.com"
    assert checked_endpoint("https://push.services.mozilla.com/x", policy).host == "push.services.mozilla.com"
    for url in ("https://evil.example.org/x", "https://googleapis.com.evil.org/x", "https://notgoogleapis.com/x"):
        with pytest.raises(EndpointRefused, match="not one of the push services"):
            checked_endpoint(url, policy)


@pytest.mark.parametrize("environment", ["dev", "production"])
def test_the_test_receiver_setting_is_refused_outside_tests(environment: str) -> None:
    required: dict[str, Any] = {
        "environment": environment,
        "mongo_uri": "mongodb://127.0.0.1",
        "mongo_database": "n",
        "kafka_bootstrap_servers": "127.0.0.1:9092",
        "jwks_urls": "http://127.0.0.1/jwks",
    }
    with pytest.raises(ValueError, match="PUSH_ALLOW_LOCAL_TEST_RECEIVER is for ENVIRONMENT=test only"):
        NotifySettings(push_allow_local_test_receiver=True, **required)
    strict = NotifySettings(**required)
    assert strict.push_endpoint_policy == PushEndpointPolicy()


def test_the_test_receiver_setting_opens_loopback_only() -> None:
    policy = PushEndpointPolicy(allow_local_test_receiver=True)
    assert checked_endpoint("http://127.0.0.1:8123/push/x", policy).port == 8123
    assert checked_endpoint("http://[::1]:8123/push/x", policy).host == "::1"
    for url in ("http://10.0.0.1:8123/x", "http://169.254.169.254/x", "http://localhost:8123/x", "http://push.com/x"):
        with pytest.raises(EndpointRefused):
            checked_endpoint(url, policy)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "142.250.4.95", "2606:4700::6810:84e5", "2a00:1450:4001:81c::200a", "64:ff9b::808:808"]
)
def test_public_addresses_are_accepted(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


# -- resolution: when subscribing and at each send ---------------------------------------------------------------


class ScriptedResolver(AbstractResolver):
    """DNS answers a test chooses, one list per lookup (the last one repeats), like a rebinding name server."""

    def __init__(self, *answers: list[str], port: int | None = None) -> None:
        self.answers = list(answers)
        self.port = port
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        addresses = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if not addresses:
            raise OSError(f"{host}: name or service not known")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=self.port or port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


def guard(*answers: list[str], port: int | None = None) -> PushEndpointGuard:
    return PushEndpointGuard(STRICT, PublicAddressResolver(ScriptedResolver(*answers, port=port)))


@pytest.mark.parametrize(
    ("addresses", "reason"),
    [
        (["10.0.0.7"], "10.0.0.7, a private address"),
        (["142.250.4.95", "127.0.0.1"], "127.0.0.1, a loopback address"),  # one bad answer spoils the name
        (["169.254.169.254"], "link-local"),
        (["::ffff:10.0.0.1"], "IPv4-mapped"),
        (["fd12:3456::1"], "private"),
        ([], "does not resolve"),
    ],
)
async def test_a_name_resolving_to_a_non_public_address_is_refused(addresses: list[str], reason: str) -> None:
    with pytest.raises(EndpointRefused, match=reason):
        await guard(addresses).check("https://push.attacker-controlled.com/x")


async def test_a_name_resolving_to_public_addresses_is_accepted() -> None:
    endpoint = await guard(["142.250.4.95", "2a00:1450:4001:81c::200a"]).check(FCM)
    assert (endpoint.host, endpoint.port) == ("fcm.googleapis.com", 443)


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[str]]]:
    """A local TCP server that records every connection made to it (before any TLS or HTTP)."""
    connections: list[str] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(str(writer.get_extra_info("peername")))
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield port, connections
    server.close()
    await server.wait_closed()


def browser_target(endpoint: str) -> PushTarget:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    raw = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return PushTarget(endpoint, b64url(raw), b64url(os.urandom(16)))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_dns_rebinding_after_subscribing_is_refused_at_send_before_connecting(
    listener: tuple[int, list[str]],
) -> None:
    """The name answered a public address when the patron subscribed and 127.0.0.1 (where something listens) at
    send time: the send is refused as the connection is made, and no connection reaches the local server."""
    port, connections = listener
    rebinding = guard(["142.250.4.95"], ["127.0.0.1"], port=port)
    endpoint = "https://push.rebinding.example.com/x"
    await rebinding.check(endpoint)
    with pytest.raises(PushGone, match=re.escape("127.0.0.1, a loopback address")):
        await send_strictly(rebinding, endpoint)
    await asyncio.sleep(0)
    assert connections == []


async def test_an_endpoint_the_policy_no_longer_allows_is_refused_at_send(listener: tuple[int, list[str]]) -> None:
    port, connections = listener
    stored = f"http://127.0.0.1:{port}/push/x"  # accepted while the test receiver was allowed
    permissive = PushEndpointGuard(PushEndpointPolicy(allow_local_test_receiver=True), PublicAddressResolver())
    await permissive.check(stored)
    with pytest.raises(PushGone, match="https URL"):
        await send_strictly(permissive, stored)
    assert connections == []


async def send_strictly(guard: PushEndpointGuard, endpoint: str) -> None:
    """One push message to ``endpoint`` through ``guard``'s HTTP client, under the production policy."""
    sender = WebPushSender(
        ec.generate_private_key(ec.SECP256R1()),
        subject="mailto:ops@sachso.test",
        http=guard.http_session(),
        policy=STRICT,
        timeout_seconds=5,
    )
    try:
        await sender.send(browser_target(endpoint), {"title": "Sách đã sẵn sàng"})
    finally:
        await sender.http.close()
