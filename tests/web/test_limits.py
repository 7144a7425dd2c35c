"""The sidecar's bounds on slow and numerous clients, against the real uvicorn server."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from websockets.asyncio.client import connect

from tests.web.conftest import TOKEN, Sidecar

CAP = 20
TIMEOUT = 3.0
LIMITS = pytest.mark.parametrize(
    "web_settings", [{"max_connections": CAP, "read_timeout_seconds": TIMEOUT}]
)
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def slow_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that starts a request and never finishes its headers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(PARTIAL)
    await writer.drain()
    return reader, writer


async def answer(reader: asyncio.StreamReader, within: float) -> bytes | None:
    """What the server sent before closing, or None when it kept the connection open."""
    try:
        return await asyncio.wait_for(reader.read(), within)
    except TimeoutError:
        return None


def server_connections(sidecar: Sidecar) -> int:
    return len(sidecar.server.server.server_state.connections)


@LIMITS
async def test_slow_clients_are_cut_off_and_the_rest_refused_at_once(sidecar: Sidecar) -> None:
    fds_before = open_fds()
    started = time.monotonic()
    slow = [await slow_client(sidecar.port) for _ in range(15)]
    # meanwhile the sidecar still answers
    client = sidecar.client()
    assert (await client.get("/healthz")).status_code == 200
    # past the cap: answered 503 and closed at once, never held
    extra = [await slow_client(sidecar.port) for _ in range(30)]
    answers = await asyncio.gather(*(answer(reader, 1.5) for reader, _ in extra))
    refused = [a for a in answers if a is not None]
    assert len(refused) >= 30 - (CAP - 16)
    assert all(a.startswith(b"HTTP/1.1 503 ") for a in refused)
    assert server_connections(sidecar) <= CAP
    # the slow ones are closed by the server after the timeout, with a 408, not before
    cut = await asyncio.gather(*(answer(reader, TIMEOUT + 3) for reader, _ in slow))
    assert time.monotonic() - started >= TIMEOUT - 0.5
    assert all(a is not None and a.startswith(b"HTTP/1.1 408 ") for a in cut), cut
    for _, writer in slow + extra:
        writer.close()
    await client.aclose()
    await asyncio.sleep(0.3)
    assert server_connections(sidecar) == 0
    assert open_fds() <= fds_before + 2
    # and the sidecar answers as before
    assert (await sidecar.client().get("/healthz")).status_code == 200


@LIMITS
async def test_a_body_that_never_arrives_is_cut_off_too(sidecar: Sidecar) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.port)
    writer.write(
        b"POST /admin/login HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nuser"
    )
    await writer.drain()
    assert await answer(reader, TIMEOUT + 3) is not None  # closed, not held
    writer.close()


@LIMITS
async def test_an_idle_connection_that_sends_nothing_is_closed(sidecar: Sidecar) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.port)
    assert await answer(reader, TIMEOUT + 3) is not None
    writer.close()


@LIMITS
async def test_keep_alive_requests_and_websockets_are_not_cut(sidecar: Sidecar) -> None:
    client = sidecar.client()
    for _ in range(3):  # one kept-alive connection, requests spaced over the deadline
        assert (await client.get("/healthz")).status_code == 200
        await asyncio.sleep(TIMEOUT / 2)
    url = f"ws://127.0.0.1:{sidecar.port}/ws/monitoring?token={TOKEN}"
    async with connect(url) as ws:
        await asyncio.sleep(TIMEOUT + 1)
        await ws.send("ping")
        while await asyncio.wait_for(ws.recv(), 5) != "pong":
            pass
