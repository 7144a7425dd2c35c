"""/rtmp in a private message: who may set a chat's RTMP target, and the stream key never
coming back (not in an answer, the audit log, the settings or the log)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import select

from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.orm import AuditLog, Chat
from tests.support.bot_rig import OWNER, BotRig
from tests.support.tg_objects import user
from tests.telegram.conftest import ADMIN, GROUP, MEMBER, VOICELESS_ADMIN

KEY = "live_123456_SecretKeyAbc"
URL = "rtmps://dc4-1.rtmp.t.me/s/"


async def private(rig: BotRig, who: dict[str, Any], text: str) -> list[str]:
    """The bot's answers in ``who``'s private chat to one message."""
    mark = rig.api.mark()
    await rig.feed(rig.updates.message(who["id"], who, text))
    return [
        c.text
        for c in rig.api.calls[mark:]
        if c.method == "sendMessage" and c.chat_id == who["id"] and c.status == 200
    ]


async def stored(rig: BotRig) -> Chat | None:
    repo = rig.services.chat_settings
    assert isinstance(repo, ChatSettingsRepo)  # the database-backed one the bot wires
    sessions = repo._sessions
    async with sessions() as session:
        return await session.get(Chat, GROUP)


async def test_admin_sets_and_clears_the_target(
    fed: BotRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the production level (DEBUG dumps SQL parameters)
    fed.api.set_chat(GROUP, title="Film Club", username="filmclub", type="supergroup")
    answers = await private(fed, ADMIN, f"/rtmp @filmclub {URL} {KEY}")
    assert answers == [
        f"Film Club now streams to {URL} from its next start. "
        "The key is saved and will not be shown again."
    ]
    # the message carrying the key was deleted
    assert [c.method for c in fed.api.calls if c.method == "deleteMessage"] == ["deleteMessage"]
    chat = await stored(fed)
    assert chat is not None
    assert (chat.engine, chat.rtmp_url, chat.rtmp_key) == ("rtmp", URL, KEY)
    target = await fed.services.chat_settings.rtmp_target(GROUP)
    assert target is not None
    assert target.key == KEY
    assert (await fed.services.chat_settings.get(GROUP)).engine == "rtmp"
    assert KEY not in repr(await fed.services.chat_settings.get(GROUP))
    sessions = fed.services.chat_settings._sessions  # type: ignore[attr-defined]
    async with sessions() as session:
        rows = (await session.scalars(select(AuditLog))).all()
    assert rows
    assert all(KEY not in (r.after + r.before) for r in rows)
    assert json.loads(rows[-1].after)["rtmp_key"] == "(set)"

    answers = await private(fed, ADMIN, f"/rtmp {GROUP} off")
    assert answers == ["RTMP streaming is off for Film Club; it uses the voice chat again."]
    assert await fed.services.chat_settings.rtmp_target(GROUP) is None
    assert KEY not in caplog.text
    assert all(KEY not in c.text for c in fed.api.calls if c.method != "getUpdates")


@pytest.mark.parametrize("who", [MEMBER, VOICELESS_ADMIN, user(77, "Stranger")])
async def test_only_video_chat_admins_and_owners(fed: BotRig, who: dict[str, Any]) -> None:
    answers = await private(fed, who, f"/rtmp {GROUP} {URL} {KEY}")
    assert answers == ["Only administrators of that chat who can manage video chats can do that."]
    assert await fed.services.chat_settings.rtmp_target(GROUP) is None
    assert await private(fed, OWNER, f"/rtmp {GROUP} {URL} {KEY}") == [
        f"Group {GROUP} now streams to {URL} from its next start. "
        "The key is saved and will not be shown again."
    ]


async def test_refusals(fed: BotRig) -> None:
    from tests.telegram.test_commands import ask

    assert await ask(fed, ADMIN, f"/rtmp {GROUP} {URL} {KEY}") == [
        "Send /rtmp to me in a private message: the stream key is a secret."
    ]
    assert await fed.services.chat_settings.rtmp_target(GROUP) is None
    usage = (
        "Usage (in a private message to me): /rtmp <chat id or @channel> <rtmp(s) URL> "
        "<stream key>, or /rtmp <chat id or @channel> off."
    )
    assert await private(fed, ADMIN, "/rtmp") == [usage]
    assert await private(fed, ADMIN, f"/rtmp {GROUP} https://example.org/live {KEY}") == [usage]
    assert await private(fed, ADMIN, f"/rtmp @nosuchchat {URL} {KEY}") == [
        "I cannot find that chat; add me to it first."
    ]
