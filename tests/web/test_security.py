from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.datastructures import Headers

from bot.domain.models import Track
from bot.storage.orm import AuditLog, Chat
from tests.web.conftest import Sidecar
from web.security import same_origin

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
