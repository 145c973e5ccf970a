"""Which webhook URLs the platform will call, and how a URL is shown back to its owner.

A user-supplied URL must not become a way into the platform's own network (OWASP API7, SSRF):
unless ``NOTIFICATIONS_ALLOW_PRIVATE_TARGETS`` is set, only https URLs whose host is, or resolves
only to, public addresses are accepted, checked when the channel is saved and again before every
request. The request then goes to the very address that was checked (``pin_webhook_url``: the
host name stays in the Host header and in TLS, for SNI and certificate checks), so a name that
resolves elsewhere a moment later (DNS rebinding) cannot redirect it. Redirects are never
followed (``webhooks.py``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from autogrid.core.errors import Unprocessable

MAX_URL_CHARS = 2000
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Unprocessable):
    """The URL is malformed or points somewhere the platform will not send to."""


def parse_webhook_url(url: str, *, allow_private: bool) -> tuple[str, int | None]:
    """The URL's host and port, after the checks that need no DNS. Messages never echo the URL
    (it may carry credentials)."""
    if len(url) > MAX_URL_CHARS:
        raise TargetRefused(f"the URL must be at most {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("the URL is malformed") from None
    allowed_schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in allowed_schemes:
        raise TargetRefused("the URL must use https")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.fragment:
        raise TargetRefused("the URL must not have a #fragment")
    return parts.hostname, port


def _is_public(address: _IPAddress) -> bool:
    return address.is_global and not address.is_multicast


async def _resolve(host: str, port: int | None) -> list[_IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except OSError:
        raise TargetRefused("the URL's host name does not resolve") from None
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def checked_addresses(
    host: str, port: int | None, *, allow_private: bool
) -> list[_IPAddress]:
    """The addresses ``host`` is or resolves to; ``TargetRefused`` unless every one is public
    (or private ones are allowed)."""
    try:
        addresses: list[_IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        lowered = host.lower().rstrip(".")
        if not allow_private and (lowered == "localhost" or lowered.endswith(".localhost")):
            raise TargetRefused("the URL must point at a public address") from None
        addresses = await _resolve(host, port)
    if not addresses:
        raise TargetRefused("the URL's host name does not resolve")
    if not allow_private and not all(_is_public(address) for address in addresses):
        raise TargetRefused("the URL must point at a public address")
    return addresses


@dataclass(frozen=True, slots=True)
class PinnedTarget:
    """Where to send: the URL with its host replaced by the checked address (user info, port,
    path and query kept), the Host header, and the name TLS must present and verify."""

    url: httpx.URL
    host_header: str
    tls_hostname: str


async def pin_webhook_url(url: str, *, allow_private: bool) -> PinnedTarget:
    """Check the URL (``TargetRefused`` unless the platform may send there) and pin it to one
    checked address."""
    host, port = parse_webhook_url(url, allow_private=allow_private)
    original = httpx.URL(url)
    host_header = original.netloc.decode("ascii").rsplit("@", 1)[-1]
    addresses = await checked_addresses(host, port, allow_private=allow_private)
    return PinnedTarget(
        url=original.copy_with(host=str(addresses[0])),
        host_header=host_header,
        tls_hostname=host,
    )


async def check_webhook_url(url: str, *, allow_private: bool) -> None:
    """Raise ``TargetRefused`` unless the platform may send to this URL."""
    await pin_webhook_url(url, allow_private=allow_private)


def mask_url(url: str) -> str:
    """``https://hooks.example.com/…``: enough to recognise the receiver, nothing to use."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}/…"
