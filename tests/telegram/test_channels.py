"""/channelplay and channel streams, one update at a time on the real player, store,
repositories and resolver; Telegram (getChat, getChatMember, channel posts) is the fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.control import PlayerState
from bot.engines.base import NoActiveCall
from bot.telegram.callbacks import CALLBACK_VERSION, Control, SettingChange, track_tag
from tests.support.bot_rig import OWNER, BotRig, is_card
from tests.support.fake_botapi import BOT_USER, Call, FakeBotAPI
from tests.support.media_server import MediaServer
from tests.support.tg_objects import admin, channel_chat, creator, user
from tests.telegram.conftest import ADMIN, GROUP, MEMBER, VOICELESS_ADMIN, script_group

CHANNEL = -1002600000001
CHANNEL_TITLE = "Sattva Radio"
CHANNEL_CHAT = channel_chat(CHANNEL, CHANNEL_TITLE, "sattva_radio")
OTHER_GROUP = -1001500000002
DISCUSSION = -1001500000003  # a group whose linked channel is CHANNEL
PLAIN_GROUP_AS_CHANNEL = -1001500000004  # a group named where a channel is expected
#: administers the channel only (not the group)
CHANNEL_ADMIN = user(40, "Dan Channel")
#: administers the channel without the right to manage video chats
CHANNEL_VOICELESS = user(50, "Eve Voiceless")
LINKED = f"📡 This group now drives {CHANNEL_TITLE}"
BOT_USER_ADMIN = admin(dict(BOT_USER))
NOT_CHANNEL_ADMIN = (
    f"Only administrators of {CHANNEL_TITLE} who can manage its video chats can link it."
)


def script_channel(api: FakeBotAPI, *, bot_admin: bool = True) -> dict[str, Any]:
    channel = api.add_channel(
        CHANNEL, title=CHANNEL_TITLE, username="sattva_radio", discussion_group=DISCUSSION
    )
    admins = [creator(ADMIN), admin(CHANNEL_ADMIN)]
    admins.append(admin(CHANNEL_VOICELESS, can_manage_video_chats=False))
    if bot_admin:
        admins.append(BOT_USER_ADMIN)
    api.set_admins(CHANNEL, admins)
    return channel


@pytest.fixture
async def chan(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path
) -> AsyncIterator[BotRig]:
    """The bot without polling, a group (GROUP, OTHER_GROUP, DISCUSSION) and CHANNEL."""
    for group in (GROUP, OTHER_GROUP, DISCUSSION, PLAIN_GROUP_AS_CHANNEL):
        script_group(fake_api, group)
    script_channel(fake_api)
    async with BotRig.open(fake_api, tmp_path, redis_url, locales_dir, poll=False) as rig:
        yield rig


async def ask(rig: BotRig, chat: int, who: dict[str, Any], text: str, **extra: Any) -> list[str]:
    """The texts the bot sent into ``chat`` while handling one message (cards aside)."""
    return await rig.texts_in(chat, who, text, **extra)


def url(media: MediaServer, name: str) -> str:
    return media.url(f"files/{name}.mp3")


async def link(rig: BotRig, group: int = GROUP, who: dict[str, Any] = ADMIN) -> None:
    answer = await ask(rig, group, who, "/channelplay @sattva_radio")
    assert len(answer) == 1, answer
    assert answer[0].startswith(LINKED), answer


def sent_to_channel(rig: BotRig) -> list[Call]:
    methods = {"sendMessage", "sendPhoto", "editMessageText", "editMessageCaption"}
    return [c for c in rig.api.calls if c.method in methods and c.chat_id == CHANNEL]


async def test_linked_group_drives_the_channel_and_the_channel_gets_no_chatter(
    chan: BotRig, media: MediaServer
) -> None:
    assert (await ask(chan, GROUP, ADMIN, "/channelplay"))[0].startswith(
        "This group plays in its own voice chat."
    )
    await link(chan)
    assert await ask(chan, GROUP, ADMIN, "/channelplay") == [
        f"This group drives {CHANNEL_TITLE}. /channelplay off unlinks."
    ]
    assert await ask(chan, GROUP, MEMBER, f"/play {url(media, 'a')}") == [
        "▶️ Now playing: Song Alpha (1:00)"
    ]
    assert await ask(chan, GROUP, MEMBER, f"/play {url(media, 'b')}") == [
        "🕒 Queued #1: Song Beta (1:00)"
    ]
    channel = await chan.players.snapshot(CHANNEL)
    assert channel.now is not None
    assert channel.now.track.title == "Song Alpha"
    assert [t.title for t in channel.pending] == ["Song Beta"]
    group = await chan.players.snapshot(GROUP)
    assert group.now is None
    assert group.pending == []
    assert chan.engine.active_chats() == [CHANNEL]
    listing = await ask(chan, GROUP, MEMBER, "/queue")
    assert listing[0].splitlines()[-1] == "1. Song Beta (1:00)"

    # the card of the channel's stream is in the group, and its buttons drive the channel
    card = await chan.api.wait_call(
        ("sendMessage", "sendPhoto"), lambda c: is_card(c) and "Song Alpha" in c.text
    )
    assert card.chat_id == GROUP
    pause = Control(v=CALLBACK_VERSION, action="pause", track=track_tag(channel.now.track.id))
    await chan.feed(
        chan.updates.callback(GROUP, ADMIN, pause.pack(), message_id=card.result["message_id"])
    )
    assert chan.api.calls_of("answerCallbackQuery")[-1].params["text"] == "⏸ Paused."
    assert (await chan.players.snapshot(CHANNEL)).state is PlayerState.PAUSED

    assert await ask(chan, GROUP, ADMIN, "/resume") == ["▶️ Resumed."]
    assert await ask(chan, GROUP, ADMIN, "/skip") == ["⏭ Skipped. Now playing: Song Beta"]
    await chan.api.wait_call(
        ("sendMessage", "sendPhoto"), lambda c: is_card(c) and "Song Beta" in c.text, chat_id=GROUP
    )
    assert sent_to_channel(chan) == []

    # unlinked: the group plays in its own voice chat again, the channel plays on
    assert (await ask(chan, GROUP, ADMIN, "/channelplay off"))[0].startswith("Unlinked")
    assert await ask(chan, GROUP, MEMBER, f"/play {url(media, 'c')}") == [
        "▶️ Now playing: Song Gamma (1:00)"
    ]
    assert sorted(chan.engine.active_chats()) == sorted([CHANNEL, GROUP])
    assert await ask(chan, GROUP, ADMIN, "/channelplay off") == [
        "This group is not linked to a channel."
    ]


async def test_controllers_of_a_linked_group(chan: BotRig, media: MediaServer) -> None:
    """The group's controllers, and the channel's administrators who can manage video
    chats; nobody else.  Admin-only mode is the channel's setting."""
    await link(chan)
    await ask(chan, GROUP, ADMIN, f"/play {url(media, 'a')}")
    refused = "Only admins who can manage voice chats and authorised users can do that."
    assert await ask(chan, GROUP, MEMBER, "/pause") == [refused]
    assert await ask(chan, GROUP, CHANNEL_VOICELESS, "/pause") == [refused]
    assert await ask(chan, GROUP, CHANNEL_ADMIN, "/pause") == ["⏸ Paused."]

    await chan.services.chat_settings.set_admin_only(CHANNEL, True)
    only_admins = "This chat is in admin-only mode: only admins can add tracks."
    assert await ask(chan, GROUP, MEMBER, f"/play {url(media, 'b')}") == [only_admins]
    assert await ask(chan, GROUP, CHANNEL_ADMIN, f"/play {url(media, 'b')}") == [
        "🕒 Queued #1: Song Beta (1:00)"
    ]


@pytest.mark.parametrize(
    ("who", "argument", "answer"),
    [
        (ADMIN, "hello", "Usage: /channelplay <@channel | -100id | linked | off>."),
        (ADMIN, "@nosuchchannel", "Channel not found (is the bot in it?)."),
        (ADMIN, str(PLAIN_GROUP_AS_CHANNEL), f"Group {PLAIN_GROUP_AS_CHANNEL} is not a channel."),
        (ADMIN, "linked", "This group has no linked channel."),
        (VOICELESS_ADMIN, "@sattva_radio", NOT_CHANNEL_ADMIN),  # not in the channel at all
        (MEMBER, "@sattva_radio", "Only chat administrators can do that."),
    ],
)
async def test_refusals(chan: BotRig, who: dict[str, Any], argument: str, answer: str) -> None:
    assert await ask(chan, GROUP, who, f"/channelplay {argument}") == [answer]
    assert await chan.services.channels.channel_of(GROUP) is None


async def test_a_channel_admin_without_video_rights_cannot_link(chan: BotRig) -> None:
    # both administer the group; in the channel only Dan may manage video chats
    chan.api.set_admins(GROUP, [creator(OWNER), admin(CHANNEL_VOICELESS), admin(CHANNEL_ADMIN)])
    assert await ask(chan, GROUP, CHANNEL_VOICELESS, "/channelplay @sattva_radio") == [
        NOT_CHANNEL_ADMIN
    ]
    # the channel's id works as well as its name
    answer = await ask(chan, GROUP, CHANNEL_ADMIN, f"/channelplay {CHANNEL}")
    assert answer[0].startswith(LINKED)


async def test_the_bot_must_administer_the_channel(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path
) -> None:
    script_group(fake_api)
    script_channel(fake_api, bot_admin=False)
    async with BotRig.open(fake_api, tmp_path, redis_url, locales_dir, poll=False) as rig:
        assert await ask(rig, GROUP, ADMIN, "/channelplay @sattva_radio") == [
            f"Make me an administrator of {CHANNEL_TITLE} first."
        ]
        assert await rig.services.channels.channel_of(GROUP) is None


async def test_anonymous_senders_and_a_group_with_its_own_stream_are_refused(
    chan: BotRig, media: MediaServer
) -> None:
    as_group = {"sender_chat": {"id": GROUP, "type": "supergroup", "title": "G"}}
    assert await ask(chan, GROUP, OWNER, "/channelplay @sattva_radio", **as_group) == [
        "Send /channelplay as yourself, not anonymously: I check that you run the channel."
    ]
    await ask(chan, GROUP, ADMIN, f"/play {url(media, 'a')}")
    assert await ask(chan, GROUP, ADMIN, "/channelplay @sattva_radio") == [
        "This group is playing its own stream: /end it first."
    ]
    await ask(chan, GROUP, ADMIN, "/end")
    await link(chan)


async def test_linked_keyword_and_moving_the_channel_to_another_group(chan: BotRig) -> None:
    answer = await ask(chan, DISCUSSION, ADMIN, "/channelplay linked")
    assert answer[0].startswith(LINKED)
    assert await chan.services.channels.channel_of(DISCUSSION) == CHANNEL
    mark = chan.api.mark()
    await link(chan, OTHER_GROUP)
    told = [
        c.text for c in chan.api.calls_of("sendMessage", DISCUSSION) if c in chan.api.calls[mark:]
    ]
    assert told == [f"This group no longer drives {CHANNEL_TITLE}: another group took it over."]
    assert await chan.services.channels.channel_of(DISCUSSION) is None
    assert await chan.services.channels.group_of(CHANNEL) == OTHER_GROUP


async def test_settings_of_a_linked_group(chan: BotRig) -> None:
    await link(chan)
    assert await ask(chan, GROUP, ADMIN, "/settings") == [
        "Settings of the linked channel; the language is this group's (press to change):"
    ]
    message_id = chan.api.calls_of("sendMessage", GROUP)[-1].result["message_id"]
    for key, value in (("always", "1"), ("lang", "ru")):
        data = SettingChange(v=CALLBACK_VERSION, key=key, value=value).pack()
        await chan.feed(chan.updates.callback(GROUP, ADMIN, data, message_id=message_id))
    channel = await chan.services.chat_settings.get(CHANNEL)
    group = await chan.services.chat_settings.get(GROUP)
    assert (channel.always_on, channel.language) == (True, None)
    assert (group.always_on, group.language) == (False, "ru")


async def post(rig: BotRig, channel: dict[str, Any], text: str) -> tuple[Call | None, list[Call]]:
    """Posts ``text`` in the channel: (the deleteMessage of the post or None, the bot's
    messages to the channel)."""
    update = rig.updates.channel_post(channel, text)
    post_id = update["channel_post"]["message_id"]
    mark = rig.api.mark()
    await rig.feed(update)
    calls = rig.api.calls[mark:]
    deleted = next(
        (
            c
            for c in calls
            if c.method == "deleteMessage"
            and c.chat_id == channel["id"]
            and int(c.params["message_id"]) == post_id
        ),
        None,
    )
    return deleted, [c for c in calls if c.method == "sendMessage" and c.chat_id == channel["id"]]


async def test_commands_posted_in_the_channel(chan: BotRig, media: MediaServer) -> None:
    channel = CHANNEL_CHAT
    deleted, said = await post(chan, channel, f"/play {url(media, 'a')}")
    assert deleted is not None
    assert deleted.status == 200
    assert said == []
    deleted, said = await post(chan, channel, f"/play {url(media, 'b')}")
    assert deleted is not None
    assert said == []
    snapshot = await chan.players.snapshot(CHANNEL)
    assert snapshot.now is not None
    assert snapshot.now.track.title == "Song Alpha"
    assert await chan.services.channels.is_channel(CHANNEL)

    deleted, said = await post(chan, channel, "/skip")
    assert deleted is not None
    assert said == []
    snapshot = await chan.players.snapshot(CHANNEL)
    assert snapshot.now is not None
    assert snapshot.now.track.title == "Song Beta"

    # a failure keeps the post and answers it, once
    deleted, said = await post(chan, channel, "/volume loud")
    assert deleted is None
    assert [c.text for c in said] == ["Usage: /volume <1-200>."]
    assert "reply_parameters" in said[0].params or "reply_to_message_id" in said[0].params
    # read-only commands and anything else are not taken from posts: nothing at all
    for text in ("/queue", "/settings", "just a post about /play"):
        deleted, said = await post(chan, channel, text)
        assert (deleted, said) == (None, [])
    # nothing announced there: a channel driven from no group gets no cards
    await asyncio.sleep(0.3)
    assert [c.text for c in sent_to_channel(chan)] == ["Usage: /volume <1-200>."]

    # the bot may not delete posts: the post stays, still no answer
    chan.api.fail_next("deleteMessage", 400, "Bad Request: message can't be deleted")
    deleted, said = await post(chan, channel, "/pause")
    assert deleted is not None
    assert deleted.status == 400
    assert said == []
    assert (await chan.players.snapshot(CHANNEL)).state is PlayerState.PAUSED


async def test_channel_post_off_unlinks_and_a_removed_bot_unlinks(
    chan: BotRig, media: MediaServer
) -> None:
    channel = CHANNEL_CHAT
    await link(chan)
    mark = chan.api.mark()
    deleted, said = await post(chan, channel, "/channelplay off")
    assert deleted is not None
    assert said == []
    assert await chan.services.channels.channel_of(GROUP) is None
    assert [c.text for c in chan.api.calls[mark:] if c.chat_id == GROUP] == [
        f"The administrators of {CHANNEL_TITLE} unlinked it: this group's commands play in "
        "its own voice chat again."
    ]
    deleted, said = await post(chan, channel, "/channelplay @other")
    assert deleted is None
    assert [c.text for c in said] == [
        "Send /channelplay in the group that should drive this channel."
    ]

    await link(chan)
    await ask(chan, GROUP, ADMIN, f"/play {url(media, 'a')}")
    kicked = chan.updates.chat_member(
        CHANNEL,
        ADMIN,
        BOT_USER_ADMIN,
        {"status": "kicked", "user": BOT_USER_ADMIN["user"], "until_date": 0},
        about_the_bot=True,
    )
    kicked["my_chat_member"]["chat"] = channel
    mark = chan.api.mark()
    await chan.feed(kicked)
    assert (await chan.players.snapshot(CHANNEL)).now is None
    assert await chan.services.channels.channel_of(GROUP) is None
    told = [c for c in chan.api.calls[mark:] if c.method == "sendMessage" and not is_card(c)]
    assert [c.text for c in told] == [
        f"I was removed from {CHANNEL_TITLE}: this group's commands play in its own voice chat "
        "again."
    ]


async def test_automatic_forwards_of_channel_posts_are_not_commands(
    chan: BotRig, media: MediaServer
) -> None:
    """A channel post copied into its discussion group must not run a second time."""
    forward = {
        "is_automatic_forward": True,
        "sender_chat": CHANNEL_CHAT,
    }
    telegram = user(777000, "Telegram")
    assert await ask(chan, DISCUSSION, telegram, f"/play {url(media, 'a')}", **forward) == []
    assert (await chan.players.snapshot(DISCUSSION)).now is None
    assert chan.engine.active_chats() == []


async def test_failures_name_the_channel_and_reach_the_right_chat(
    chan: BotRig, media: MediaServer
) -> None:
    await link(chan)
    chan.engine.faults.add(NoActiveCall(), chat_id=CHANNEL)
    assert await ask(chan, GROUP, ADMIN, f"/play {url(media, 'a')}") == [
        "Start a video chat in the channel first."
    ]
    assert sent_to_channel(chan) == []
    # a failure raised by a command posted in the channel: one reply there, the post kept
    deleted, said = await post(chan, CHANNEL_CHAT, "/remove 7")
    assert deleted is None
    assert [c.text for c in said] == ["There is no track #7 (the queue has 0)."]


async def test_a_group_the_bot_leaves_stops_driving_its_channel(chan: BotRig) -> None:
    await link(chan)
    left = chan.updates.chat_member(
        GROUP,
        ADMIN,
        BOT_USER_ADMIN,
        {"status": "left", "user": BOT_USER_ADMIN["user"]},
        about_the_bot=True,
    )
    await chan.feed(left)
    assert await chan.services.channels.channel_of(GROUP) is None
    assert await chan.services.channels.is_channel(CHANNEL)
