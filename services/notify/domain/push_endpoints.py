"""Which Web Push endpoints notify may POST to.

A push endpoint is a URL the browser hands over, so whoever holds a patron token chooses where notify sends
requests. Left open, that is a server-side request forgery: notify would POST into the cluster (the metadata
service at 169.254.169.254, MongoDB's or Kafka's ports, other services by their short names). Browsers only
ever give endpoints of their vendor's push service — an ``https`` URL on a public host name on port 443 — so
that is all notify accepts:

* the URL: ``https``, no user information, the default port, a host *name* (no IP literal, no number that an
  address parser would read as one, like ``2130706433`` or ``0177.0.0.1``), with at least two labels and not a
  special-use name (``localhost``, ``*.local``, ``*.internal``, ``*.svc``, …), optionally within an allow-list
  of push service domains;
* every address the name resolves to, when subscribing and again at each send (the connection goes to the
  address just checked, so a name that re-resolves elsewhere — DNS rebinding — gains nothing): a public unicast
  address; private, loopback, link-local, shared, multicast, reserved, unspecified, site-local, IPv4-mapped and
  tunnelled (6to4, Teredo) addresses are refused, and a NAT64 address is judged by the IPv4 address it carries.

These functions are pure; resolving names is the adapter's job (``notify.adapters.webpush``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

HTTPS_PORT = 443
# Names that never lead to a public push service (RFC 6761, RFC 6762, RFC 8375, Kubernetes' cluster domains).
SPECIAL_USE_SUFFIXES = (
    "localhost",
    "local",
    "internal",
    "intranet",
    "lan",
    "home",
    "corp",
    "svc",
    "cluster.local",
    "home.arpa",
    "arpa",
    "test",
    "example",
    "invalid",
    "onion",
)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")


class EndpointRefused(Exception):
    """The endpoint is not one notify may send to; the message says why, for the patron's app."""


@dataclass(frozen=True)
class PushEndpointPolicy:
    """``allowed_domains``: when not empty, the host must be one of these or below one (``fcm.googleapis.com``).
    ``allow_local_test_receiver``: for a test's local push receiver only — also ``http`` on loopback addresses
    (settings refuse it outside ``ENVIRONMENT=test``)."""

    allowed_domains: tuple[str, ...] = ()
    allow_local_test_receiver: bool = False


@dataclass(frozen=True)
class PushEndpoint:
    url: str
    host: str
    port: int


def checked_endpoint(url: str, policy: PushEndpointPolicy) -> PushEndpoint:
    """The endpoint's host and port if its URL may be used (before any name is resolved); else EndpointRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise EndpointRefused(f"the endpoint is not a valid URL ({error})") from None
    host = (parts.hostname or "").rstrip(".")
    if policy.allow_local_test_receiver and parts.scheme in ("http", "https") and _is_loopback_literal(host):
        return PushEndpoint(url, host, port or (HTTPS_PORT if parts.scheme == "https" else 80))
    if parts.scheme != "https":
        raise EndpointRefused("the endpoint must be an https URL of a push service")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("the endpoint must not carry a user name or password")
    if port not in (None, HTTPS_PORT):
        raise EndpointRefused("push services listen on the https port (443)")
    if not host:
        raise EndpointRefused("the endpoint has no host")
    literal = _ip_literal(host)
    if literal is not None:
        reason = address_refusal(literal)
        raise EndpointRefused(f"{host} is {reason}" if reason else "push services are reached by name, not by address")
    _check_host_name(host)
    if policy.allowed_domains and not any(_within(host, domain) for domain in policy.allowed_domains):
        raise EndpointRefused(f"{host} is not one of the push services this library accepts")
    return PushEndpoint(url, host, HTTPS_PORT)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback_literal(host: str) -> bool:
    address = _ip_literal(host)
    return address is not None and address.is_loopback


def _check_host_name(host: str) -> None:
    if not host.isascii():
        raise EndpointRefused("the endpoint's host must be an ASCII (IDNA) name")
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise EndpointRefused(f"{host} is not a valid host name")
    if _NUMERIC_LABEL.match(labels[-1]):
        # inet_aton() reads 2130706433, 0177.0.0.1, 0x7f.1 or 127.1 as 127.0.0.1: never a name
        raise EndpointRefused(f"{host} is a numeric address in disguise, not a host name")
    if len(labels) < 2:
        raise EndpointRefused(f"{host} is a single-label (cluster-internal) name, not a public host")
    for suffix in SPECIAL_USE_SUFFIXES:
        if _within(host, suffix):
            raise EndpointRefused(f"{host} is a special-use name (.{suffix}), not a public host")


def _within(host: str, domain: str) -> bool:
    domain = domain.lower().strip(".")
    return host == domain or host.endswith("." + domain)


def address_refusal(address: IPAddress) -> str | None:
    """Why notify must not connect to ``address`` (a phrase such as "a private address"), or None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        if address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            return address_refusal(embedded)
        if address.sixtofour is not None or address.teredo is not None:
            return "a tunnelled (6to4 or Teredo) IPv6 address"
        if address in _SITE_LOCAL:
            return "a site-local address"
    for flag, phrase in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    ):
        if getattr(address, flag):
            return phrase
    if not address.is_global:
        return "not a public address"
    return None
