"""The queue store's own Redis client, against a real redis-server (and, for a server that
never answers, a socket that accepts and stays silent)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.storage.redis_wire import Endpoint, RedisWire, pack


@pytest.fixture
async def wire(redis_url: str) -> AsyncIterator[RedisWire]:
    client = RedisWire(redis_url, timeout=5.0, max_connections=4, pool_wait=5.0)
    yield client
    await client.close()


async def connections(raw: Redis) -> int:
    return len(await raw.client_list()) - 1  # not the looking client itself


def test_commands_are_packed_as_bulk_strings() -> None:
    assert pack(["SET", "k", 12, 1.5, b"\x00\xff", "ü"]) == (
        b"*6\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$3\r\n1.5\r\n$2\r\n\x00\xff\r\n$2\r\n\xc3\xbc\r\n"
    )


def test_urls_give_where_and_who() -> None:
    plain = Endpoint.from_url("redis://user:p%40ss@cache.example:6380/3")
    assert (plain.host, plain.port, plain.db, plain.username, plain.password) == (
        "cache.example",
        6380,
        3,
        "user",
        "p@ss",
    )
    assert plain.tls is None
    assert Endpoint.from_url("unix:///run/redis.sock?db=2") == Endpoint(
        path="/run/redis.sock", db=2
    )
    tls = Endpoint.from_url("rediss://cache.example:6380/0")
    assert tls.tls is not None
    assert tls.tls.verify_mode is ssl.CERT_REQUIRED
    lax = Endpoint.from_url("rediss://cache.example/0?ssl_cert_reqs=none")
    assert lax.tls is not None
    assert lax.tls.verify_mode is ssl.CERT_NONE


def test_a_url_option_it_would_not_honour_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot take socket_keepalive"):
        Endpoint.from_url("redis://127.0.0.1:6379/0?socket_keepalive=true")
    with pytest.raises(ValueError, match="scheme"):
        Endpoint.from_url("http://127.0.0.1:6379/0")


async def test_calls_pipelines_and_transactions(wire: RedisWire, raw: Redis) -> None:
    assert await wire.call("SET", "k", "välue") == "OK"
    assert await wire.call("GET", "k") == "välue"
    assert await wire.call("GET", "missing") is None
    assert await wire.pipeline([("RPUSH", "l", "a", "b"), ("LRANGE", "l", 0, -1)]) == [
        2,
        ["a", "b"],
    ]
    assert await wire.transaction([("INCR", "n"), ("INCR", "n")]) == [1, 2]
    assert await connections(raw) == 1  # one connection, reused by every call


async def test_an_error_reply_is_raised_and_the_connection_stays_in_step(
    wire: RedisWire, raw: Redis
) -> None:
    await wire.call("SET", "k", "v")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await wire.pipeline([("LPUSH", "k", "x"), ("GET", "k")])
    with pytest.raises(NoScriptError):
        await wire.call("EVALSHA", "0" * 40, 0)
    assert await wire.call("GET", "k") == "v"  # its own reply, not a left-over one
    assert await connections(raw) == 1


async def test_calls_made_together_share_one_write_and_get_their_own_replies(
    wire: RedisWire, raw: Redis
) -> None:
    await raw.set("text", "v")
    replies = await asyncio.gather(
        *(wire.call("INCRBY", f"n{i % 5}", i) for i in range(40)),
        wire.call("LPUSH", "text", "x"),  # WRONGTYPE: its caller's error alone
        wire.pipeline([("GET", "text"), ("INCR", "text")]),
        wire.transaction([("SET", "t", "1"), ("GET", "t")]),
        return_exceptions=True,
    )
    assert replies[:40] == [sum(range(i % 5, i + 1, 5)) for i in range(40)]
    wrongtype, failed_pipeline, transaction = replies[40:]
    assert isinstance(wrongtype, ResponseError)
    assert "WRONGTYPE" in str(wrongtype)
    assert isinstance(failed_pipeline, ResponseError)
    assert "not an integer" in str(failed_pipeline)
    assert transaction == ["OK", "1"]
    # forty-three callers, one connection (the limit is four): they went as one batch
    assert await connections(raw) == 1
    assert await wire.call("GET", "text") == "v"  # the connection is in step


async def test_a_cancelled_caller_leaves_the_others_their_replies(
    wire: RedisWire, raw: Redis
) -> None:
    first, cancelled, last = (
        asyncio.create_task(wire.call("INCRBY", "n", step)) for step in (1, 10, 100)
    )
    for _ in range(2):  # they join one batch; its send writes their commands
        await asyncio.sleep(0)
    cancelled.cancel()  # its reply is on its way (nothing was read yet)
    assert await first == 1
    assert await last == 111  # the cancelled INCRBY had been written: it ran
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await wire.call("GET", "n") == "111"  # its own reply on the kept connection
    assert await connections(raw) == 1


async def test_a_batch_whose_callers_all_left_is_abandoned(wire: RedisWire) -> None:
    early = asyncio.create_task(wire.call("SET", "k", "early"))
    await asyncio.sleep(0)  # it joined a batch that has not been sent yet
    early.cancel()
    with pytest.raises(asyncio.CancelledError):
        await early
    # a call made now starts a batch of its own (the abandoned one is never sent)
    async with asyncio.timeout(2):
        assert await wire.call("GET", "k") is None


async def test_a_blocking_command_holds_up_nobody_else(wire: RedisWire, raw: Redis) -> None:
    waiting = asyncio.create_task(wire.call("BLPOP", "later", 5))
    while "blpop" not in str(await raw.client_list()):  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    async with asyncio.timeout(2):  # not behind BLPOP's reply
        assert await wire.call("RPUSH", "later", "x") == 1
    assert await waiting == ["later", "x"]
    assert await connections(raw) == 2


async def test_acl_user_and_database_from_the_url(redis_url: str, raw: Redis) -> None:
    await raw.acl_setuser(
        "wiretest", enabled=True, passwords=["+s3cret"], keys="*", commands=["+@all"]
    )
    try:
        base = redis_url.removeprefix("redis://").rsplit("/", 1)[0]
        client = RedisWire(
            f"redis://wiretest:s3cret@{base}/5", timeout=5.0, max_connections=1, pool_wait=1.0
        )
        try:
            await client.call("SET", "where", "db5")
            assert await client.call("ACL", "WHOAMI") == "wiretest"
        finally:
            await client.close()
        assert await raw.get("where") is None  # not in database 0
        await raw.select(5)
        assert await raw.get("where") == "db5"
        denied = RedisWire(
            f"redis://wiretest:wrong@{base}/0", timeout=5.0, max_connections=1, pool_wait=1.0
        )
        with pytest.raises(AuthenticationError):  # a ConnectionError: "storage unavailable"
            await denied.call("PING")
        await denied.close()
    finally:
        await raw.select(0)
        await raw.acl_deluser("wiretest")


async def test_connections_the_server_closed_while_idle_are_not_used(
    wire: RedisWire, raw: Redis
) -> None:
    """A restarted or CLIENT KILLed server: the next call opens a new connection instead
    of failing on the dead one."""
    await asyncio.gather(*(wire.call("BLPOP", f"none{i}", 0.1) for i in range(3)))
    assert await connections(raw) == 3
    await raw.client_kill_filter(_type="normal", skipme=True)
    await asyncio.sleep(0.1)  # the loop sees the three hang-ups
    assert await wire.call("SET", "k", "v") == "OK"
    assert await connections(raw) == 1


async def test_a_cancelled_call_never_hands_its_reply_to_the_next(
    wire: RedisWire, raw: Redis
) -> None:
    """BLPOP is written, then cancelled while it waits: its connection must go, or the
    next call on it would read the popped value as its own reply."""
    call = asyncio.create_task(wire.call("BLPOP", "later", 5))
    # the server is the only one who knows when the command arrived: poll it
    while "blpop" not in str(await raw.client_list()):  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    # the server drops the blocked BLPOP once it reads the hang-up (a push before that is
    # popped for the dead connection: Redis's doing; under load it came first).  Well
    # before BLPOP's own 5 s: a connection kept open would still be blocked then.
    async with asyncio.timeout(2):
        while "blpop" in str(await raw.client_list()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await raw.rpush("later", "x")  # nobody is waiting for it any more
    assert await wire.call("GET", "k") is None
    assert await raw.lrange("later", 0, -1) == ["x"]


async def test_a_silent_server_times_out_and_its_connection_is_dropped() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RedisWire(f"redis://127.0.0.1:{port}/0", timeout=0.2, max_connections=2, pool_wait=1)
    try:
        for _ in range(2):
            with pytest.raises(RedisTimeoutError):
                await client.call("PING")
        assert len(accepted) == 2  # the timed-out connection was not reused
    finally:
        await client.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_reply_that_came_during_a_stop_is_not_failed_by_its_overdue_timer(
    redis_url: str,
) -> None:
    """The process stopped (SIGSTOP, a frozen VM; here a blocking sleep) longer than the
    call's timeout while the reply arrived: woken, the reply and the overdue timer are
    handled in one loop round. The call returns its reply and keeps its connection."""
    client = RedisWire(redis_url, timeout=0.2, max_connections=1, pool_wait=1)
    try:
        first = await client.call("CLIENT", "ID")
        call = asyncio.create_task(client.call("CLIENT", "ID"))
        for _ in range(2):  # the call joins a batch; the batch's send writes the command
            await asyncio.sleep(0)
        time.sleep(0.5)  # noqa: ASYNC251 (the loop stopped past the timeout: the point)
        assert await call == first
        assert await client.call("CLIENT", "ID") == first  # the same connection, still
    finally:
        await client.close()


async def test_no_server_is_a_connection_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = RedisWire(f"redis://127.0.0.1:{port}/0", timeout=2.0, max_connections=1, pool_wait=1)
    with pytest.raises(RedisConnectionError):
        await client.call("PING")
    await client.close()


async def test_calls_past_the_limit_wait_for_a_free_connection(redis_url: str, raw: Redis) -> None:
    client = RedisWire(redis_url, timeout=5.0, max_connections=2, pool_wait=5.0)
    try:
        replies = await asyncio.gather(*(client.call("BLPOP", f"none{i}", 0.2) for i in range(6)))
        assert replies == [None] * 6
        assert await connections(raw) == 2
    finally:
        await client.close()
    short = RedisWire(redis_url, timeout=5.0, max_connections=1, pool_wait=0.1)
    try:
        waiting = asyncio.create_task(short.call("BLPOP", "none", 0.5))
        await asyncio.sleep(0.05)
        with pytest.raises(RedisConnectionError, match="no free connection"):
            await short.call("PING")
        assert await waiting is None
    finally:
        await short.close()


async def test_a_closed_client_refuses_calls(wire: RedisWire, raw: Redis) -> None:
    await wire.call("PING")
    await wire.close()
    with pytest.raises(RedisConnectionError, match="closed"):
        await wire.call("PING")
    assert await connections(raw) == 0
