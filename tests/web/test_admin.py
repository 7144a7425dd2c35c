from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.domain.models import Track
from bot.domain.ports import ChatSettings
from bot.logs import SecretMask
from bot.storage.admins import hash_password, verify_password
from bot.storage.models import AuditLog, Chat, WebAdmin
from tests.web.conftest import BOTH_DATABASES, Sidecar
from web.admin_views import MODEL_VIEWS

CHAT = -1001234567890


async def add_chat(sidecar: Sidecar) -> None:
    async with sidecar.sessionmaker() as session, session.begin():
        session.add(Chat(id=CHAT, title="Jazz club", volume=100))


async def audit_rows(sidecar: Sidecar) -> list[AuditLog]:
    async with sidecar.sessionmaker() as session:
        return list((await session.scalars(select(AuditLog).order_by(AuditLog.id))).all())


@BOTH_DATABASES
async def test_editing_a_chat_writes_an_audit_row_with_before_and_after(sidecar: Sidecar) -> None:
    await add_chat(sidecar)
    assert (await sidecar.chat_settings.get(CHAT)).volume == 100  # now cached for an hour
    client = await sidecar.login()
    form = await client.get(f"/admin/chat/edit/{CHAT}")
    assert form.status_code == 200
    assert 'value="Jazz club"' in form.text
    r = await client.post(
        f"/admin/chat/edit/{CHAT}",
        data={"title": "Jazz club", "language": "ru", "volume": "80", "playlist": ""},
        headers=sidecar.origin,
    )
    assert r.status_code == 302, r.text
    async with sidecar.sessionmaker() as session:
        chat = await session.get(Chat, CHAT)
    assert chat is not None
    assert (chat.language, chat.volume, chat.admin_only) == ("ru", 80, False)
    # the panel dropped the bot's cached copy: the player sees the edit at once
    assert await sidecar.chat_settings.get(CHAT) == ChatSettings(
        chat_id=CHAT, language="ru", volume=80
    )
    [row] = await audit_rows(sidecar)
    assert (row.actor, row.action, row.entity, row.entity_id) == (
        "web:alice",
        "update",
        "chats",
        str(CHAT),
    )
    before, after = json.loads(row.before), json.loads(row.after)
    assert {k: before[k] for k in ("language", "volume")} == {"language": None, "volume": 100}
    assert {k: after[k] for k in ("language", "volume")} == {"language": "ru", "volume": 80}
    assert "title" not in after  # unchanged fields are not listed
    # the audit log is visible (read-only) in the panel
    page = await client.get("/admin/audit-log/list")
    assert page.status_code == 200
    assert "web:alice" in page.text
    assert (await client.get("/admin/audit-log/create")).status_code == 403


async def test_invalid_chat_settings_are_refused_and_not_saved(sidecar: Sidecar) -> None:
    await add_chat(sidecar)
    client = await sidecar.login()
    r = await client.post(
        f"/admin/chat/edit/{CHAT}",
        data={"title": "x", "language": "de", "volume": "500"},
        headers=sidecar.origin,
    )
    assert r.status_code == 400
    async with sidecar.sessionmaker() as session:
        chat = await session.get(Chat, CHAT)
    assert chat is not None
    assert (chat.title, chat.volume) == ("Jazz club", 100)
    assert await audit_rows(sidecar) == []


@BOTH_DATABASES
async def test_admin_form_hashes_the_password_and_never_shows_it(sidecar: Sidecar) -> None:
    client = await sidecar.login()
    r = await client.post(
        "/admin/web-admin/create",
        data={"username": "bob", "password": "s3cret-password"},
        headers=sidecar.origin,
    )
    assert r.status_code == 302, r.text
    async with sidecar.sessionmaker() as session:
        bob = await session.scalar(select(WebAdmin).where(WebAdmin.username == "bob"))
    assert bob is not None
    assert bob.password_hash.startswith("$argon2id$")
    assert verify_password(bob.password_hash, "s3cret-password")
    for path in (
        "/admin/web-admin/list",
        f"/admin/web-admin/details/{bob.id}",
        f"/admin/web-admin/edit/{bob.id}",
    ):
        page = await client.get(path)
        assert page.status_code == 200
        assert "$argon2" not in page.text
        assert "s3cret-password" not in page.text
        assert "password_hash" not in page.text.lower().replace("password hash", "")
    [row] = await audit_rows(sidecar)
    assert (row.action, row.entity) == ("create", "web_admins")
    assert "$argon2" not in row.after
    assert "s3cret" not in row.after
    assert json.loads(row.after)["password"] == "(set)"

    # editing without a password keeps the hash; with one, replaces it
    old_hash = bob.password_hash
    await client.post(
        f"/admin/web-admin/edit/{bob.id}",
        data={"username": "bobby", "password": ""},
        headers=sidecar.origin,
    )
    async with sidecar.sessionmaker() as session:
        bob = await session.get(WebAdmin, bob.id)
    assert bob is not None
    assert (bob.username, bob.password_hash) == ("bobby", old_hash)
    rows = await audit_rows(sidecar)
    assert json.loads(rows[-1].before) == {"username": "bob"}
    assert json.loads(rows[-1].after) == {"username": "bobby"}

    # the new admin can log in with the password set in the form
    other = sidecar.client()
    r = await other.post(
        "/admin/login",
        data={"username": "bobby", "password": "s3cret-password"},
        headers=sidecar.origin,
    )
    assert r.status_code == 302


async def test_a_new_admin_without_a_good_password_is_refused(sidecar: Sidecar) -> None:
    client = await sidecar.login()
    for password, message in (("", "a new admin needs a password"), ("short", "at least 8")):
        r = await client.post(
            "/admin/web-admin/create",
            data={"username": "carol", "password": password},
            headers=sidecar.origin,
        )
        assert r.status_code == 400
        assert message in r.text
    async with sidecar.sessionmaker() as session:
        assert await session.scalar(select(WebAdmin).where(WebAdmin.username == "carol")) is None


@BOTH_DATABASES
async def test_deleting_an_authorised_user_is_audited(sidecar: Sidecar) -> None:
    await add_chat(sidecar)
    client = await sidecar.login()
    r = await client.post(
        "/admin/authorized-user/create",
        data={"chat": str(CHAT), "user_id": "42", "name": "Dave"},
        headers=sidecar.origin,
    )
    assert r.status_code == 302, r.text
    r = await client.request(
        "DELETE", "/admin/authorized-user/delete?pks=1", headers=sidecar.origin
    )
    assert r.status_code == 200
    create, delete = await audit_rows(sidecar)
    assert json.loads(create.after)["user_id"] == 42
    assert delete.action == "delete"
    assert json.loads(delete.before)["name"] == "Dave"
    assert delete.after == ""


@BOTH_DATABASES
async def test_queues_view_shows_the_store_and_its_actions_go_through_the_player(
    sidecar: Sidecar,
) -> None:
    for title in ("First song", "Second song", "Third song"):
        await sidecar.players.play(CHAT, Track(title=title, source=title, media="/x.mp3"))
    client = await sidecar.login()
    page = await client.get("/admin/queues")
    assert page.status_code == 200
    assert "First song" in page.text
    assert "<li>Second song</li><li>Third song</li>" in page.text

    r = await client.post(f"/admin/queues/{CHAT}/skip", headers=sidecar.origin)
    assert r.status_code == 303
    assert (await sidecar.store.now_playing(CHAT)).track.title == "Second song"  # type: ignore[union-attr]
    r = await client.post(f"/admin/queues/{CHAT}/clear", headers=sidecar.origin)
    assert r.status_code == 303
    assert await sidecar.store.pending(CHAT) == []
    page = await client.get(r.headers["location"])
    assert f"chat {CHAT}: cleared 1 queued tracks" in page.text

    skip, clear = await audit_rows(sidecar)
    assert (skip.action, skip.entity_id, skip.actor) == ("queue.skip", str(CHAT), "web:alice")
    assert json.loads(skip.before) == {"state": "playing", "now": "First song", "pending": 2}
    assert json.loads(skip.after) == {"now": "Second song"}
    assert (clear.action, json.loads(clear.before)["pending"]) == ("queue.clear", 1)

    # the actions are POST only
    assert (await client.get(f"/admin/queues/{CHAT}/clear")).status_code == 405
    # bad chat id: a short answer, nothing done
    r = await client.post("/admin/queues/abc/skip", headers=sidecar.origin)
    page = await client.get(r.headers["location"])
    assert "not a chat id: abc" in page.text


@BOTH_DATABASES
async def test_an_id_that_cannot_be_a_key_is_404_on_every_view(sidecar: Sidecar) -> None:
    await add_chat(sidecar)
    client = await sidecar.login()
    seen = []
    for view in MODEL_VIEWS:
        for pk in ("notanumber", "1.5", "9" * 30, "-" + "9" * 25):
            for method, action in (("GET", "details"), ("GET", "edit"), ("POST", "edit")):
                r = await client.request(
                    method, f"/admin/{view.identity}/{action}/{pk}", headers=sidecar.origin
                )
                # a view that cannot edit refuses its edit pages before looking at the key
                expected = 404 if action == "details" or view.can_edit else 403
                seen.append((view.identity, method, action, pk[:12], r.status_code, expected))
    assert [s for s in seen if s[-2] != s[-1]] == []
    # a real key still opens
    assert (await client.get(f"/admin/chat/details/{CHAT}")).status_code == 200


@BOTH_DATABASES
async def test_no_password_hash_reaches_the_log_or_the_page(
    sidecar: Sidecar, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # as in production (bot.logs.setup_logging), the mask sits on the handler
    caplog.handler.addFilter(SecretMask(()))
    client = await sidecar.login()
    r = await client.post(
        "/admin/web-admin/create",
        data={"username": "alice", "password": "another-password"},
        headers=sidecar.origin,
    )
    assert r.status_code == 400
    assert "an admin named alice exists already" in r.text
    # the database's own refusal (two panels saving the same name at once) carries no values
    with pytest.raises(IntegrityError) as refused:
        async with sidecar.sessionmaker() as session, session.begin():
            session.add(WebAdmin(username="alice", password_hash=hash_password("p4ssword!")))
    logging.getLogger("sqladmin.application").exception(refused.value)
    assert "$argon2" not in str(refused.value)
    assert "$argon2" not in r.text
    formatter = logging.Formatter("%(message)s")
    lines = [formatter.format(record) for record in caplog.records]
    assert any("unique" in line.lower() for line in lines)
    assert [line for line in lines if "$argon2" in line] == []
    # the statement's values are in no error text, masked or not
    assert not any("INSERT" in line and "***" in line for line in lines if "Error" in line)
