from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from starlette.datastructures import Headers

from bot.domain.models import Track
from bot.storage.models import AuditLog, Chat
from tests.web.conftest import PASSWORD, TOKEN, Sidecar
from web.security import allowed_host_names, host_allowed, same_origin

CHAT = -100777


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"host": "panel.example:8080", "origin": "http://panel.example:8080"}, True),
        ({"host": "panel.example", "origin": "https://panel.example"}, True),
        ({"host": "panel.example:443", "origin": "https://PANEL.example"}, True),
        ({"host": "panel.example:8080", "referer": "http://panel.example:8080/admin/x"}, True),
        ({"host": "panel.example:8080", "origin": "http://evil.example:8080"}, False),
        ({"host": "panel.example:8080", "origin": "http://panel.example:9090"}, False),
        ({"host": "panel.example:8080", "origin": "null"}, False),
        ({"host": "panel.example:8080"}, False),
        ({"host": "panel.example", "origin": "http://panel.example.evil.example"}, False),
        ({"host": "panel.example", "referer": "javascript:alert(1)"}, False),
        ({"origin": "http://panel.example"}, False),
        # a Host without a port is the default port of the Origin's scheme
        ({"host": "panel.example", "origin": "http://panel.example:8080"}, False),
        ({"host": "panel.example", "origin": "http://panel.example:443"}, False),
        ({"host": "panel.example", "origin": "https://panel.example:443"}, True),
        ({"host": "panel.example:80", "origin": "http://panel.example"}, True),
    ],
)
def test_same_origin(headers: dict[str, str], expected: bool) -> None:
    assert same_origin(Headers(headers)) is expected


async def test_forged_origin_is_refused_and_nothing_changes(sidecar: Sidecar) -> None:
    async with sidecar.sessionmaker() as session, session.begin():
        session.add(Chat(id=CHAT, title="Before", volume=100))
    await sidecar.players.play(CHAT, Track(title="Song", source="s", media="/x.mp3"))
    await sidecar.players.play(CHAT, Track(title="Next", source="n", media="/y.mp3"))
    client = await sidecar.login()
    evil = {"Origin": "http://evil.example"}
    attempts = [
        ("POST", f"/admin/chat/edit/{CHAT}", {"title": "Hacked", "volume": "1"}, evil),
        ("POST", f"/admin/queues/{CHAT}/clear", None, evil),
        ("POST", f"/admin/queues/{CHAT}/skip", None, {"Referer": "http://evil.example/x"}),
        ("POST", "/admin/web-admin/create", {"username": "m", "password": "12345678"}, {}),
        ("DELETE", "/admin/chat/delete?pks=1", None, evil),
    ]
    for method, path, data, headers in attempts:
        r = await client.request(method, path, data=data, headers=headers)
        assert r.status_code == 403, (method, path)
        assert r.text == ("Cross-site request refused: the Origin header does not match this site.")
    async with sidecar.sessionmaker() as session:
        chat = await session.get(Chat, CHAT)
        audit = (await session.scalars(select(AuditLog))).all()
    assert chat is not None
    assert (chat.title, chat.volume) == ("Before", 100)
    assert audit == []
    assert [t.title for t in await sidecar.store.pending(CHAT)] == ["Next"]
    assert (await sidecar.store.now_playing(CHAT)).track.title == "Song"  # type: ignore[union-attr]
    # the same request from the panel's own origin goes through
    r = await client.post(f"/admin/queues/{CHAT}/clear", headers=sidecar.origin)
    assert r.status_code == 303
    assert await sidecar.store.pending(CHAT) == []


async def test_login_from_another_site_is_refused(sidecar: Sidecar) -> None:
    r = await sidecar.client().post(
        "/admin/login",
        data={"username": "alice", "password": "whatever"},
        headers={"Origin": "http://evil.example"},
    )
    assert r.status_code == 403
    assert "set-cookie" not in r.headers


async def test_security_headers_on_every_page(sidecar: Sidecar) -> None:
    client = sidecar.client()
    for path in ("/admin/login", "/healthz", "/metrics", "/static/dashboard.js", "/nowhere"):
        r = await client.get(path)
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "same-origin", path


@pytest.mark.parametrize(
    ("bind", "extra", "host", "expected"),
    [
        ("127.0.0.1", [], "127.0.0.1:8080", True),
        ("127.0.0.1", [], "LOCALHOST", True),
        ("127.0.0.1", [], "localhost.:8080", True),
        ("127.0.0.1", [], "[::1]:8080", True),
        ("127.0.0.1", [], "evil.example", False),
        ("127.0.0.1", [], "evil.example:8080", False),
        ("127.0.0.1", [], "127.0.0.1.evil.example", False),
        ("127.0.0.1", [], "", False),
        ("10.0.0.5", [], "10.0.0.5:8080", True),
        ("0.0.0.0", [], "0.0.0.0:8080", False),  # every interface is no name
        ("0.0.0.0", ["bot.example.org"], "Bot.Example.org:443", True),
        ("127.0.0.1", ["bot.example.org"], "www.bot.example.org", False),
        ("127.0.0.1", ["*"], "anything.example", True),
    ],
)
def test_host_allowed(bind: str, extra: list[str], host: str, expected: bool) -> None:
    headers = Headers({"host": host} if host else {})
    assert host_allowed(headers, allowed_host_names(bind, extra)) is expected


async def raw_request(sidecar: Sidecar, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.port)
    writer.write(request)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), 5)
    finally:
        writer.close()


async def test_an_unknown_host_is_refused_on_every_path(sidecar: Sidecar) -> None:
    client = sidecar.client()
    evil = {"Host": "evil.example"}
    for path in ("/healthz", "/metrics", "/admin/login", "/", "/api/state", "/nowhere"):
        r = await client.get(path, headers=evil)
        assert (r.status_code, r.text) == (400, "Unknown Host header."), path
    # DNS rebinding: the attacker's page is same-origin with its own name
    r = await client.post(
        "/admin/login",
        data={"username": "alice", "password": PASSWORD},
        headers={
            "Host": f"evil.example:{sidecar.port}",
            "Origin": f"http://evil.example:{sidecar.port}",
        },
    )
    assert r.status_code == 400
    assert "set-cookie" not in r.headers
    # the WebSocket too, with the right token
    answer = await raw_request(
        sidecar,
        f"GET /ws/monitoring?token={TOKEN} HTTP/1.1\r\nHost: evil.example\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    # a request without Host (HTTP/1.0) is no known name either
    assert (await raw_request(sidecar, b"GET /healthz HTTP/1.0\r\n\r\n")).startswith(
        b"HTTP/1.1 400 "
    )
    # the names the sidecar is known by still work
    for host in (f"127.0.0.1:{sidecar.port}", f"localhost:{sidecar.port}", "[::1]"):
        assert (await client.get("/healthz", headers={"Host": host})).status_code == 200, host
    await sidecar.login()


@pytest.mark.parametrize("web_settings", [{"allowed_hosts": ["bot.example.org"]}])
async def test_a_configured_public_name_is_answered(sidecar: Sidecar) -> None:
    client = sidecar.client()
    host = {"Host": "bot.example.org"}
    assert (await client.get("/healthz", headers=host)).status_code == 200
    # behind a TLS proxy on 443: the Origin's default port matches a Host without one
    r = await client.post(
        "/admin/login",
        data={"username": "alice", "password": PASSWORD},
        headers={**host, "Origin": "https://bot.example.org"},
    )
    assert r.status_code == 302
    r = await client.post(
        "/admin/login",
        data={"username": "alice", "password": PASSWORD},
        headers={**host, "Origin": "https://bot.example.org:8443"},
    )
    assert r.status_code == 403


def test_the_webhook_urls_host_is_a_known_name() -> None:
    from types import SimpleNamespace

    from web.app import _known_names

    settings = SimpleNamespace(
        web=SimpleNamespace(allowed_hosts=["panel.example"]),
        telegram=SimpleNamespace(webhook_url="https://Bot.Example.org:8443/telegram/webhook"),
    )
    names = _known_names(SimpleNamespace(settings=settings))  # type: ignore[arg-type]
    assert names == ["panel.example", "bot.example.org"]
    assert host_allowed(Headers({"host": "bot.example.org:8443"}), allowed_host_names("::", names))
