"""Outgoing HTTP to URLs that users supply (webhooks, and any other user-given target) never reaches inside.

A URL is refused when its host is — or resolves to — an address that is not publicly routable: loopback,
link-local (cloud metadata at 169.254.169.254 included), private (RFC 1918, unique-local IPv6), shared
(CGNAT), multicast, unspecified, reserved or documentation ranges; IPv4 addresses wrapped in IPv6
(IPv4-mapped ``::ffff:127.0.0.1``, 6to4, Teredo, NAT64) are judged by the IPv4 address inside. Unusual
spellings (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) are resolved like any other name, so they are judged
by the address they mean. Networks the operator allows (``allow``) are exempt.

The check happens when the connection is made, not only when the URL is accepted: :meth:`NetGuard.client`
gives an httpx client whose every TCP connection — the first request and every redirect — resolves the host
once, refuses if any of its addresses is blocked, and connects to exactly the address it checked. A name
that resolves to a public address when the webhook is created and to ``127.0.0.1`` at delivery (DNS
rebinding) is refused at delivery; TLS still verifies the certificate against the host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

SCHEMES = ("http", "https")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class BlockedTarget(ValueError):
    """The URL may not be requested (the message says why, without secrets)."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public destination, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = blocked_reason(inner)
            return f"{reason} (inside {ip})" if reason else None
    for reason, hit in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if hit:
            return f"{reason} address {ip}"
    if not ip.is_global:
        return f"non-public address {ip}"
    return None


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``["192.168.1.0/24", "10.0.0.5"]`` → networks (ValueError names a bad entry)."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {value!r}") from None
    return tuple(networks)


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (TCP), as the system resolver answers."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise BlockedTarget(f"cannot resolve {host!r}: {error}") from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True)
class NetGuard:
    """Which destinations outgoing requests may reach: public addresses, plus the ``allow`` networks."""

    allow: tuple[IPNetwork, ...] = ()
    resolver: Resolver = field(default=system_resolver, compare=False)

    def reason(self, ip: IPAddress) -> str | None:
        """Why a connection to ``ip`` is refused, or None."""
        if any(ip.version == net.version and ip in net for net in self.allow):
            return None
        if isinstance(ip, ipaddress.IPv6Address):
            inner = _embedded_ipv4(ip)
            if inner is not None and any(inner in net for net in self.allow if net.version == 4):
                return None
        return blocked_reason(ip)

    def check_url(self, url: str) -> tuple[str, str, int]:
        """Scheme, host and port of an acceptable absolute http(s) URL (no DNS yet)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise BlockedTarget(f"not a valid URL: {error}") from None
        if parts.scheme not in SCHEMES:
            raise BlockedTarget("only http and https URLs are allowed")
        host = parts.hostname
        if not host:
            raise BlockedTarget("the URL has no host")
        return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` a connection may use; :class:`BlockedTarget` when any is blocked (a
        name with one internal answer among public ones is refused whole)."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        found = [str(literal)] if literal is not None else await self.resolver(host, port)
        if not found:
            raise BlockedTarget(f"{host!r} has no address")
        for address in found:
            reason = self.reason(ipaddress.ip_address(address))
            if reason is not None:
                raise BlockedTarget(f"{host!r} is not allowed: {reason}")
        return found

    async def check(self, url: str) -> None:
        """Refuse ``url`` now (when it is configured): bad form, or a host that resolves inside."""
        _scheme, host, port = self.check_url(url)
        await self.addresses(host, port)

    def transport(self, **options: Any) -> httpx.AsyncBaseTransport:
        """An httpx transport whose connections go only where this guard allows, to the checked address."""
        return GuardedTransport(self, **options)

    def client(self, **options: Any) -> httpx.AsyncClient:
        """An httpx client through :meth:`transport`; proxies from the environment are not used (a proxy
        would resolve the name itself)."""
        return httpx.AsyncClient(transport=self.transport(), trust_env=False, **options)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks the host of every new connection, then connects to a checked address."""

    def __init__(self, guard: NetGuard) -> None:
        self.guard = guard
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.guard.addresses(host, port)
        except BlockedTarget as error:
            raise httpcore.ConnectError(str(error)) from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (TLS, pooling, HTTP/1.1) over :class:`_GuardedBackend`."""

    def __init__(self, guard: NetGuard, *, verify: Any = True, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=20, max_keepalive_connections=5)
        super().__init__(verify=verify, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(guard),
        )


def guard_from(allow: Sequence[str]) -> NetGuard:
    """A guard allowing the configured networks (``gateway.outbound_allow``)."""
    return NetGuard(allow=parse_networks(allow))
