"""The panel's Channels page: links made and undone there reach the bot at once and are
audited; a group cannot drive two channels."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.storage.orm import AuditLog, Channel, Chat
from tests.web.conftest import Sidecar

GROUP = -1001234567890
OTHER_GROUP = -1001234567891
CHANNEL = -1002234567890
OTHER_CHANNEL = -1002234567891


async def add_chats(sidecar: Sidecar) -> None:
    async with sidecar.sessionmaker() as session, session.begin():
        session.add(Chat(id=GROUP, title="Jazz club", volume=100))
        session.add(Chat(id=OTHER_GROUP, title="Rock club", volume=100))
        session.add(Chat(id=CHANNEL, title="Jazz radio", volume=100))
        session.add(Chat(id=OTHER_CHANNEL, title="Rock radio", volume=100))


async def test_linking_and_unlinking_in_the_panel(sidecar: Sidecar) -> None:
    await add_chats(sidecar)
    assert await sidecar.channels.channel_of(GROUP) is None  # the bot's snapshot, kept an hour
    client = await sidecar.login()
    r = await client.post(
        "/admin/channel/create",
        data={"channel": str(CHANNEL), "group": str(GROUP)},
        headers=sidecar.origin,
    )
    assert r.status_code == 302, r.text
    # the panel dropped the bot's snapshot: the group's next command drives the channel
    assert await sidecar.channels.channel_of(GROUP) == CHANNEL
    listing = await client.get("/admin/channel/list")
    assert "Jazz radio" in listing.text
    assert "Jazz club" in listing.text

    # the same group for a second channel: refused, nothing saved
    r = await client.post(
        "/admin/channel/create",
        data={"channel": str(OTHER_CHANNEL), "group": str(GROUP)},
        headers=sidecar.origin,
    )
    assert r.status_code == 400
    assert "already drives another channel" in r.text
    async with sidecar.sessionmaker() as session:
        rows = (await session.scalars(select(Channel))).all()
    assert [(c.channel_id, c.group_id) for c in rows] == [(CHANNEL, GROUP)]

    r = await client.post(
        f"/admin/channel/edit/{CHANNEL}",
        data={"channel": str(CHANNEL), "group": ""},
        headers=sidecar.origin,
    )
    assert r.status_code == 302, r.text
    assert await sidecar.channels.channel_of(GROUP) is None
    assert await sidecar.channels.is_channel(CHANNEL)

    async with sidecar.sessionmaker() as session:
        audit = (await session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
    assert [(a.action, a.entity, a.entity_id) for a in audit] == [
        ("create", "channels", str(CHANNEL)),
        ("update", "channels", str(CHANNEL)),
    ]
    assert json.loads(audit[1].before)["group_id"] == GROUP
    assert json.loads(audit[1].after)["group_id"] is None
