from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bot.domain.models import Track
from bot.domain.playback import NO_PLACEMENT, track_data
from bot.metrics import REGISTRY
from tests.web.conftest import TOKEN, Sidecar


def url(sidecar: Sidecar, query: str = "") -> str:
    return f"ws://127.0.0.1:{sidecar.port}/ws/monitoring{'?' + query if query else ''}"


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    data: dict[str, Any] = json.loads(raw)
    return data


async def next_event(ws: ClientConnection, *, skip: str = "metrics_update") -> dict[str, Any]:
    while True:
        message = await recv_json(ws)
        if message["event"] != skip:
            return message


def metric(name: str) -> float:
    value = REGISTRY.get_sample_value(name)
    return 0.0 if value is None else value


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("query", ["", "token=wrong", f"token={TOKEN}x", "token="])
async def test_missing_or_wrong_token_is_refused_at_the_handshake(
    sidecar: Sidecar, query: str
) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url(sidecar, query)):
            pass
    assert info.value.response.status_code == 403


async def test_session_needs_a_matching_origin(sidecar: Sidecar) -> None:
    client = await sidecar.login()
    cookie = f"sattva_session={client.cookies['sattva_session']}"
    with pytest.raises(InvalidStatus):
        async with connect(
            url(sidecar),
            additional_headers={"Cookie": cookie},
            origin="http://evil.example",  # type: ignore[arg-type]
        ):
            pass
    async with connect(
        url(sidecar),
        additional_headers={"Cookie": cookie},
        origin=sidecar.base,  # type: ignore[arg-type]
    ) as ws:
        await ws.send("ping")
        while (answer := await asyncio.wait_for(ws.recv(), 5)) != "pong":
            assert json.loads(answer)["event"] == "metrics_update"


async def test_chat_filter(sidecar: Sidecar) -> None:
    async with connect(url(sidecar, f"token={TOKEN}&chat_id=-1001")) as ws:
        await wait_for(lambda: len(sidecar.server.app.state.hub.clients) == 1)
        sidecar.services.bus.publish("queue_update", -1002, {"length": 9})
        sidecar.services.bus.publish("queue_update", -1001, {"length": 3})
        message = await next_event(ws)
        assert message["event"] == "queue_update"
        assert message["chat_id"] == -1001
        assert message["data"] == {"length": 3}
        assert set(message) == {"event", "chat_id", "data", "timestamp"}
        assert abs(message["timestamp"] - time.time()) < 5


async def test_events_filter(sidecar: Sidecar) -> None:
    async with connect(url(sidecar, f"token={TOKEN}&events=track_change,auto_end_warning")) as ws:
        await wait_for(lambda: len(sidecar.server.app.state.hub.clients) == 1)
        bus = sidecar.services.bus
        bus.publish("queue_update", 1, {"length": 1})
        bus.publish("stream_status", 1, {"state": "paused"})
        bus.publish("auto_end_warning", 1, {"seconds": 60})
        hello = Track(title="Hello", source="s", media="/x.mp3")
        await sidecar.players.play(7, hello)
        first, second = await recv_json(ws), await recv_json(ws)
        assert (first["event"], first["chat_id"], first["data"]) == (
            "auto_end_warning",
            1,
            {"seconds": 60},
        )
        assert (second["event"], second["chat_id"], second["data"]) == (
            "track_change",
            7,
            {**track_data(hello), **NO_PLACEMENT, "reason": "play", "position": 0.0},
        )


async def test_unknown_event_gets_an_error_frame_then_close(sidecar: Sidecar) -> None:
    async with connect(url(sidecar, f"token={TOKEN}&events=track_change,bogus")) as ws:
        message = await recv_json(ws)
        assert message["event"] == "error"
        assert message["data"]["error"] == "unknown events: bogus"
        assert "track_change" in message["data"]["known_events"]
        with pytest.raises(ConnectionClosed) as info:
            await recv_json(ws)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1008


async def test_bad_chat_id_gets_an_error_frame(sidecar: Sidecar) -> None:
    async with connect(url(sidecar, f"token={TOKEN}&chat_id=abc")) as ws:
        message = await recv_json(ws)
        assert message["data"]["error"] == "chat_id must be an integer, got 'abc'"


async def test_ping_pong_and_metrics_update(sidecar: Sidecar) -> None:
    await sidecar.players.play(5, Track(title="A", source="a", media="/a.mp3"))
    await sidecar.players.play(5, Track(title="B", source="b", media="/b.mp3"))
    await sidecar.engine.set_listeners(5, 4)
    await sidecar.players.drain()
    async with connect(url(sidecar, f"token={TOKEN}&events=metrics_update")) as ws:
        await ws.send("ping")
        assert await asyncio.wait_for(ws.recv(), 5) == "pong"
        await ws.send("hello")
        assert json.loads(await ws.recv())["data"] == {"error": "the only command is: ping"}
        update = await recv_json(ws)  # metrics_interval_seconds is 0.2 in the tests
        assert update["event"] == "metrics_update"
        assert update["chat_id"] is None
        assert update["data"]["streams"] == {"active": 1, "listeners": 4, "queued": 1}
        assert 0 <= update["data"]["system"]["cpu_percent"] <= 100
        assert 0 < update["data"]["system"]["memory_percent"] < 100


async def test_connections_gauge(sidecar: Sidecar) -> None:
    base = metric("sattva_ws_connections")
    async with connect(url(sidecar, f"token={TOKEN}")):
        await wait_for(lambda: metric("sattva_ws_connections") == base + 1)
    await wait_for(lambda: metric("sattva_ws_connections") == base)


async def test_a_stalled_client_is_dropped_without_delaying_the_others(sidecar: Sidecar) -> None:
    events, payload = 600, "x" * 20_000  # 12 MB: more than the stalled path can buffer
    dropped_before = metric("sattva_ws_dropped_clients_total")
    conn_before = metric("sattva_ws_connections")

    # The stalled client: a tiny receive buffer, and it never reads.
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", sidecar.port))
    # no permessage-deflate, or the padding would shrink to nothing on the wire
    stalled = await connect(
        url(sidecar, f"token={TOKEN}&events=queue_update"),
        sock=raw,
        max_queue=1,
        compression=None,
    )

    healthy = [
        await connect(url(sidecar, f"token={TOKEN}&events=queue_update"), max_size=None)
        for _ in range(3)
    ]
    await wait_for(lambda: len(sidecar.server.app.state.hub.clients) == 4)

    async def consume(ws: ClientConnection) -> list[float]:
        latencies = []
        for expected in range(events):
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert message["data"]["n"] == expected
            latencies.append(time.time() - message["timestamp"])
        return latencies

    readers = [asyncio.create_task(consume(ws)) for ws in healthy]
    started = time.monotonic()
    for n in range(events):
        sidecar.services.bus.publish("queue_update", 1, {"n": n, "pad": payload})
        if n % 10 == 9:
            await asyncio.sleep(0.005)
    results = await asyncio.gather(*readers)
    elapsed = time.monotonic() - started

    for latencies in results:
        assert len(latencies) == events
        assert max(latencies) < 2.0, max(latencies)
    assert elapsed < 15, elapsed
    await wait_for(lambda: metric("sattva_ws_dropped_clients_total") == dropped_before + 1)
    await wait_for(lambda: metric("sattva_ws_connections") == conn_before + 3)
    assert len(sidecar.server.app.state.hub.clients) == 3
    for ws in healthy:
        await ws.close()
    stalled.transport.abort()
