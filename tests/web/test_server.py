from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import replace

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.web.conftest import TOKEN, Sidecar, make_settings
from web.server import WebServer, start_sidecar


async def test_reports_the_bound_port_and_leaves_the_bots_signals_alone(
    sidecar: Sidecar,
) -> None:
    assert sidecar.port > 0
    assert sidecar.server.port == sidecar.port
    loop = asyncio.get_running_loop()
    got = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, got.set)  # as the bot does
    server = WebServer(sidecar.services, host="127.0.0.1", port=0)
    try:
        port = await server.start()
        assert port not in (0, sidecar.port)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(got.wait(), 5)  # the bot's handler ran, not uvicorn's
        assert not server.server.should_exit
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await server.stop()


async def drain(ws: ClientConnection) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), 5)


async def test_graceful_stop_closes_websockets_and_the_port(sidecar: Sidecar) -> None:
    async with connect(f"ws://127.0.0.1:{sidecar.port}/ws/monitoring?token={TOKEN}") as ws:
        await ws.send("ping")
        while await asyncio.wait_for(ws.recv(), 5) != "pong":
            pass
        await asyncio.wait_for(sidecar.server.stop(), 10)
        with pytest.raises(ConnectionClosed) as info:
            await drain(ws)
        # uvicorn closes open WebSockets with 1012 (service restart) on shutdown
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1012
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"{sidecar.base}/healthz")


async def test_a_taken_port_raises_oserror_not_systemexit(sidecar: Sidecar) -> None:
    other = WebServer(sidecar.services, host="127.0.0.1", port=sidecar.port)
    with pytest.raises(OSError, match="in use"):
        await other.start()


async def test_start_sidecar_honours_web_enabled(sidecar: Sidecar) -> None:
    off = replace(
        sidecar.services,
        settings=make_settings(enabled=False),
    )
    assert await start_sidecar(off) is None
    on = replace(sidecar.services, settings=make_settings(port=0))
    server = await start_sidecar(on)
    assert server is not None
    try:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"http://127.0.0.1:{server.port}/healthz")
        assert r.status_code == 200
    finally:
        await server.stop()


async def test_monitoring_token_never_reaches_the_log(
    sidecar: Sidecar, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.error")
    async with connect(f"ws://127.0.0.1:{sidecar.port}/ws/monitoring?token={TOKEN}&chat_id=1"):
        pass
    lines = [r.getMessage() for r in caplog.records if "/ws/monitoring" in r.getMessage()]
    assert lines
    assert all(TOKEN not in line for line in lines)
    assert any("token=***&chat_id=1" in line for line in lines)
