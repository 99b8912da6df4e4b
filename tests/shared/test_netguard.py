"""The outbound guard: user-supplied URLs reach neither loopback nor the LAN nor metadata services — not by
spelling, not by redirect, not by DNS rebinding."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.netguard import BlockedTarget, NetGuard, blocked_reason, parse_networks

BLOCKED = [
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.178.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space (CGNAT)
    "224.0.0.1",
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo client 10.0.0.1
]
PUBLIC = ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", BLOCKED)
def test_internal_addresses_are_blocked(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:7070/api/residualpower/4242",
        "http://localhost/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]:7070/",
        "http://169.254.169.254/latest/meta-data/",
        "ftp://example.com/",
        "file:///etc/passwd",
        "http:///nohost",
        "http://example.com:99999/",
    ],
)
async def test_urls_to_internal_targets_are_refused(url: str) -> None:
    with pytest.raises(BlockedTarget):
        await NetGuard().check(url)


async def test_a_name_with_one_internal_answer_is_refused_whole() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.7"]

    with pytest.raises(BlockedTarget, match=r"private address 10\.0\.0\.7"):
        await NetGuard(resolver=resolver).check("https://mixed.example/hook")


async def test_allowed_networks_are_exempt() -> None:
    guard = NetGuard(allow=parse_networks(["192.168.1.0/24", "::1"]))
    await guard.check("http://192.168.1.20:1880/node-red")
    await guard.check("http://[::1]/")
    with pytest.raises(BlockedTarget):
        await guard.check("http://192.168.2.20/")
    with pytest.raises(ValueError, match="not an IP"):
        parse_networks(["192.168.1.0/33"])


@pytest.fixture
async def local_server() -> AsyncIterator[tuple[int, list[str]]]:
    """An HTTP server on 127.0.0.1 and 127.0.0.2 (same port) that records requests; ``/redirect`` sends to
    ``http://127.0.0.1:<port>/landed``."""
    hits: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readuntil(b"\r\n\r\n")).decode()
        path = request.split(" ", 2)[1]
        hits.append(path)
        if path == "/redirect":
            head = f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/landed\r\nContent-Length: 0\r\n"
        else:
            head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
        writer.write((head + "Connection: close\r\n\r\n" + ("ok" if "200" in head else "")).encode())
        await writer.drain()
        writer.close()

    first = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = first.sockets[0].getsockname()[1]
    second = await asyncio.start_server(handle, "127.0.0.2", port)
    async with first, second:
        yield port, hits


async def test_the_client_refuses_at_connect_time_and_follows_no_redirect_inside(
    local_server: tuple[int, list[str]],
) -> None:
    port, hits = local_server
    async with NetGuard().client(follow_redirects=True) as client:
        with pytest.raises(httpx.ConnectError, match="loopback"):
            await client.post(f"http://127.0.0.1:{port}/api/residualpower/4242")
    assert hits == []  # nothing reached the server

    # An allowed front (127.0.0.2 here) redirecting to a forbidden address (127.0.0.1): refused.
    front = NetGuard(allow=parse_networks(["127.0.0.2/32"]))
    async with front.client(follow_redirects=True) as client:
        assert (await client.get(f"http://127.0.0.2:{port}/ok")).text == "ok"  # allowed: served
        with pytest.raises(httpx.ConnectError, match=r"loopback address 127\.0\.0\.1"):
            await client.get(f"http://127.0.0.2:{port}/redirect")
    assert hits == ["/ok", "/redirect"]


async def test_dns_rebinding_cannot_switch_the_address_after_the_check(
    local_server: tuple[int, list[str]],
) -> None:
    port, hits = local_server
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    guard = NetGuard(resolver=rebinding)
    await guard.check(f"http://rebind.example:{port}/hook")  # at creation: a public answer
    async with guard.client() as client:
        with pytest.raises(httpx.ConnectError, match="loopback"):  # at delivery: the internal answer
            await client.post(f"http://rebind.example:{port}/hook")
    assert hits == []
