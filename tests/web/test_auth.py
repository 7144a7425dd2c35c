from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from bot.storage.admins import create_or_reset_admin, needs_rehash
from bot.storage.models import WebAdmin, WebSession
from tests.web.conftest import ADMIN, PASSWORD, Sidecar
from web.admin_views import MODEL_VIEWS

IDENTITIES = [view.identity for view in MODEL_VIEWS]


def admin_requests() -> list[tuple[str, str]]:
    routes: list[tuple[str, str]] = [
        ("GET", "/"),
        ("GET", "/admin/"),
        ("GET", "/admin/queues"),
        ("POST", "/admin/queues/-100123/skip"),
        ("POST", "/admin/queues/-100123/clear"),
    ]
    for identity in IDENTITIES:
        routes += [
            ("GET", f"/admin/{identity}/list"),
            ("GET", f"/admin/{identity}/create"),
            ("POST", f"/admin/{identity}/create"),
            ("GET", f"/admin/{identity}/edit/1"),
            ("POST", f"/admin/{identity}/edit/1"),
            ("GET", f"/admin/{identity}/details/1"),
            ("GET", f"/admin/{identity}/export/csv"),
            ("GET", f"/admin/{identity}/export/json"),
            ("DELETE", f"/admin/{identity}/delete?pks=1"),
            ("POST", f"/admin/{identity}/import"),
            ("GET", f"/admin/{identity}/ajax/lookup?name=chat&term=a"),
        ]
    return routes


async def test_every_admin_route_redirects_to_login_without_a_session(sidecar: Sidecar) -> None:
    client = sidecar.client()
    login = f"{sidecar.base}/admin/login"
    seen = []
    for method, path in admin_requests():
        r = await client.request(method, path, headers=sidecar.origin)
        seen.append((method, path, r.status_code, r.headers.get("location")))
    assert [s for s in seen if s[2:] != (302, login)] == []
    assert len(seen) == 5 + 11 * len(IDENTITIES)
    # and nothing leaked through: the admin table is as the fixture left it
    async with sidecar.sessionmaker() as session:
        names = (await session.scalars(select(WebAdmin.username))).all()
    assert names == [ADMIN]


async def test_api_state_needs_a_session(sidecar: Sidecar) -> None:
    r = await sidecar.client().get("/api/state")
    assert r.status_code == 401
    assert r.json() == {"error": "log in at /admin/login"}


async def test_login_sets_a_strict_httponly_cookie_and_opens_the_panel(sidecar: Sidecar) -> None:
    client = sidecar.client()
    r = await client.post(
        "/admin/login", data={"username": ADMIN, "password": PASSWORD}, headers=sidecar.origin
    )
    assert r.status_code == 302
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("sattva_session=")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/" in flags
    assert "secure" not in flags
    page = await client.get("/admin/chat/list")
    assert page.status_code == 200
    assert "Chats" in page.text
    async with sidecar.sessionmaker() as session:
        admin = await session.scalar(select(WebAdmin).where(WebAdmin.username == ADMIN))
    assert admin is not None
    assert admin.last_login_at is not None


@pytest.mark.parametrize("web_settings", [{"https_only": True}])
async def test_cookie_is_secure_when_https_only(sidecar: Sidecar) -> None:
    r = await sidecar.client().post(
        "/admin/login", data={"username": ADMIN, "password": PASSWORD}, headers=sidecar.origin
    )
    flags = [part.strip().lower() for part in r.headers["set-cookie"].split(";")]
    assert "secure" in flags
    assert "samesite=strict" in flags


async def test_wrong_password_is_refused(sidecar: Sidecar) -> None:
    client = sidecar.client()
    r = await client.post(
        "/admin/login", data={"username": ADMIN, "password": "wrong"}, headers=sidecar.origin
    )
    assert r.status_code == 400
    assert "Invalid credentials." in r.text
    assert "set-cookie" not in r.headers
    assert (await client.get("/admin/")).status_code == 302


async def test_sixth_attempt_is_throttled_even_with_the_right_password(sidecar: Sidecar) -> None:
    client = sidecar.client()
    for _ in range(5):
        r = await client.post(
            "/admin/login", data={"username": ADMIN, "password": "nope"}, headers=sidecar.origin
        )
        assert r.status_code == 400
    r = await client.post(
        "/admin/login", data={"username": ADMIN, "password": PASSWORD}, headers=sidecar.origin
    )
    assert r.status_code == 429
    assert "Too many failed logins. Try again in 60 seconds." in r.text
    assert "set-cookie" not in r.headers
    # a minute later the right password works again
    sidecar.clock.now += 61
    await sidecar.login(client)
    assert (await client.get("/admin/")).status_code == 200


async def test_throttle_is_per_username_too(sidecar: Sidecar) -> None:
    client = sidecar.client()
    for _ in range(5):
        await client.post(
            "/admin/login", data={"username": "bob", "password": "nope"}, headers=sidecar.origin
        )
    sidecar.clock.now += 30
    r = await client.post(
        "/admin/login", data={"username": "bob", "password": "x"}, headers=sidecar.origin
    )
    assert r.status_code == 429
    assert "Try again in 30 seconds." in r.text


async def test_logout_clears_the_session(sidecar: Sidecar) -> None:
    client = await sidecar.login()
    assert (await client.get("/admin/")).status_code == 200
    r = await client.get("/admin/logout")
    assert r.status_code == 302
    assert r.headers["location"] == f"{sidecar.base}/admin/login"
    assert "sattva_session=null" in r.headers["set-cookie"]
    assert (await client.get("/admin/")).status_code == 302
    assert (await client.get("/")).status_code == 302


async def test_a_deleted_admin_loses_the_session(sidecar: Sidecar) -> None:
    client = await sidecar.login()
    async with sidecar.sessionmaker() as session, session.begin():
        admin = await session.scalar(select(WebAdmin).where(WebAdmin.username == ADMIN))
        await session.delete(admin)
    assert (await client.get("/admin/")).status_code == 302


async def test_a_password_reset_ends_earlier_sessions(sidecar: Sidecar) -> None:
    client = await sidecar.login()
    assert (await client.get("/admin/")).status_code == 200
    await create_or_reset_admin(sidecar.sessionmaker, ADMIN, "a brand new password")
    assert (await client.get("/admin/")).status_code == 302
    assert (await client.get("/api/state")).status_code == 401


async def test_a_forged_session_cookie_is_ignored(sidecar: Sidecar) -> None:
    client = sidecar.client()
    forged = base64.b64encode(json.dumps({"admin": ADMIN, "key": "0" * 32}).encode()).decode()
    client.cookies.set("sattva_session", f"{forged}.x.y")
    assert (await client.get("/admin/")).status_code == 302


async def test_login_upgrades_a_weak_hash_and_the_session_holds(sidecar: Sidecar) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    async with sidecar.sessionmaker() as session, session.begin():
        admin = await session.scalar(select(WebAdmin).where(WebAdmin.username == ADMIN))
        assert admin is not None
        admin.password_hash = weak
    client = await sidecar.login()
    async with sidecar.sessionmaker() as session:
        stored = await session.scalar(
            select(WebAdmin.password_hash).where(WebAdmin.username == ADMIN)
        )
    assert stored is not None
    assert stored != weak
    assert not needs_rehash(stored)
    assert (await client.get("/admin/")).status_code == 200


async def test_logins_sent_at_once_are_counted_before_the_password_is_checked(
    sidecar: Sidecar,
) -> None:
    client = sidecar.client()
    client.timeout = httpx.Timeout(120)  # unthrottled, 25 argon2 checks queue up

    async def attempt(password: str) -> int:
        r = await client.post(
            "/admin/login", data={"username": ADMIN, "password": password}, headers=sidecar.origin
        )
        return r.status_code

    wrong = [attempt(f"guess-{i}") for i in range(24)]
    statuses = await asyncio.gather(*wrong[:12], attempt(PASSWORD), *wrong[12:])
    evaluated = [s for s in statuses if s != 429]
    assert len(evaluated) <= 5, statuses
    assert statuses.count(429) >= 20
    right = statuses[12]
    # the right password got in only if it was among the five admitted
    assert right in (302, 429)


def copy_of(sidecar: Sidecar, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Another client holding the same session cookie (a stolen or copied cookie)."""
    other = sidecar.client()
    other.cookies.set("sattva_session", client.cookies["sattva_session"])
    return other


async def test_a_copied_cookie_is_refused_after_logout(sidecar: Sidecar) -> None:
    client = await sidecar.login()
    copy = copy_of(sidecar, client)
    assert (await copy.get("/admin/")).status_code == 200
    assert (await client.get("/admin/logout")).status_code == 302
    for path in ("/admin/", "/admin/chat/list"):
        assert (await copy.get(path)).status_code == 302, path
    assert (await copy.get("/api/state")).status_code == 401
    async with sidecar.sessionmaker() as session:
        assert (await session.scalars(select(WebSession))).all() == []


async def test_a_password_change_in_the_panel_ends_that_admins_sessions(sidecar: Sidecar) -> None:
    bob = sidecar.client()
    await create_or_reset_admin(sidecar.sessionmaker, "bob", "bobs password")
    r = await bob.post(
        "/admin/login",
        data={"username": "bob", "password": "bobs password"},
        headers=sidecar.origin,
    )
    assert r.status_code == 302
    alice = await sidecar.login()
    alice_copy = copy_of(sidecar, alice)
    async with sidecar.sessionmaker() as session:
        alice_id = await session.scalar(select(WebAdmin.id).where(WebAdmin.username == ADMIN))
    r = await alice.post(
        f"/admin/web-admin/edit/{alice_id}",
        data={"username": ADMIN, "password": "a new password!"},
        headers=sidecar.origin,
    )
    assert r.status_code == 302, r.text
    assert (await alice_copy.get("/admin/")).status_code == 302
    assert (await alice.get("/admin/")).status_code == 302
    assert (await bob.get("/admin/")).status_code == 200  # another admin's session stays


async def test_a_session_ends_on_the_server_after_its_lifetime(sidecar: Sidecar) -> None:
    client = await sidecar.login()
    async with sidecar.sessionmaker() as session, session.begin():
        await session.execute(
            update(WebSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await client.get("/admin/")).status_code == 302
