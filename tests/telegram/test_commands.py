"""Argument parsing and rights, one update at a time (``Dispatcher.feed_raw_update``), on the
real player, store, repositories and resolver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.domain.control import ChatSnapshot, PlayerState
from bot.domain.models import LoopMode, Track
from bot.sources.base import SourceRequest
from bot.telegram.callbacks import CALLBACK_VERSION, SettingChange
from tests.support.bot_rig import OWNER, BotRig
from tests.support.media_server import MediaServer
from tests.support.procs import RedisServer
from tests.support.tg_objects import admin, member, user
from tests.telegram.conftest import ADMIN, GROUP, MEMBER, OWNER_OF_GROUP, VOICELESS_ADMIN

REFUSED = "Only admins who can manage voice chats and authorised users can do that."
ADMINS_ONLY = "Only chat administrators can do that."


async def ask(rig: BotRig, who: dict[str, Any], text: str, **extra: Any) -> list[str]:
    """What the bot answered in the group to one message (``BotRig.texts_in``)."""
    return await rig.texts_in(GROUP, who, text, **extra)


@dataclass(frozen=True)
class State:
    state: PlayerState
    track: str | None
    pending: list[str]
    loop: LoopMode
    volume: int
    paused: bool

    @classmethod
    def of(cls, snap: ChatSnapshot) -> State:
        return cls(
            snap.state,
            snap.now.track.title if snap.now else None,
            [t.title for t in snap.pending],
            snap.loop,
            snap.volume,
            bool(snap.now and snap.now.paused),
        )


async def state(rig: BotRig) -> State:
    return State.of(await rig.players.snapshot(GROUP))


async def queue_songs(rig: BotRig, media: MediaServer, *names: str) -> None:
    for name in names:
        track = await rig.services.resolver.resolve(
            SourceRequest(query=media.url(f"files/{name}.mp3"))
        )
        assert isinstance(track, Track)
        await rig.players.play(GROUP, track)


async def test_malformed_arguments_get_the_usage_line(fed: BotRig, media: MediaServer) -> None:
    await queue_songs(fed, media, "a", "b")
    before = await state(fed)
    cases = {
        "/seek abc": "Usage: /seek mm:ss (for example /seek 1:30).",
        "/seek 1:75": "Usage: /seek mm:ss (for example /seek 1:30).",
        "/seek": "Usage: /seek mm:ss (for example /seek 1:30).",
        "/volume 0": "Usage: /volume <1-200>.",
        "/volume 999": "Usage: /volume <1-200>.",
        "/volume loud": "Usage: /volume <1-200>.",
        "/volume": "Usage: /volume <1-200>.",
        "/remove x": "Usage: /remove <number in the queue>.",
        "/remove 0": "Usage: /remove <number in the queue>.",
        "/remove": "Usage: /remove <number in the queue>.",
        "/move 1": "Usage: /move <from> <to> (numbers in the queue).",
        "/move a b": "Usage: /move <from> <to> (numbers in the queue).",
        "/move 1 2 3": "Usage: /move <from> <to> (numbers in the queue).",
        "/loop nope": "Usage: /loop [off|track|queue].",
        "/play": "Usage: /play <link or search words>, or reply /play to an audio message.",
        "/play    ": "Usage: /play <link or search words>, or reply /play to an audio message.",
        "/queue x": "Usage: /queue [page].",
        "/lang xx": "Usage: /lang <en|ru|uk|auto>.",
        "/auth": "Usage: reply /auth to a user's message, or /auth <user id>.",
        "/unauth nobody": "Usage: reply /unauth to a user's message, or /unauth <user id>.",
    }
    for text, expected in cases.items():
        assert await ask(fed, ADMIN, text) == [expected], text
    assert await ask(fed, OWNER, "/broadcast") == ["Usage: /broadcast <text>."]
    assert await state(fed) == before


async def test_out_of_range_positions_are_answered(fed: BotRig, media: MediaServer) -> None:
    await queue_songs(fed, media, "a", "b")
    before = await state(fed)
    assert await ask(fed, ADMIN, "/remove 5") == ["There is no track #5 (the queue has 1)."]
    assert await ask(fed, ADMIN, "/move 1 4") == ["There is no track #4 (the queue has 1)."]
    assert await ask(fed, ADMIN, "/seek 5:00") == ["That is past the end of the track (1:00)."]
    assert await state(fed) == before


async def test_commands_without_playback(fed: BotRig) -> None:
    assert await ask(fed, ADMIN, "/skip") == ["Nothing is playing."]
    assert await ask(fed, ADMIN, "/pause") == ["Nothing is playing."]
    assert await ask(fed, ADMIN, "/resume") == ["Nothing is paused."]
    assert await ask(fed, ADMIN, "/seek 0:10") == ["Nothing is playing."]
    assert await ask(fed, MEMBER, "/queue") == ["The queue is empty."]
    assert await ask(fed, MEMBER, "/now") == ["Nothing is playing."]


async def test_plain_member_is_refused_and_nothing_changes(fed: BotRig, media: MediaServer) -> None:
    await queue_songs(fed, media, "a", "b", "c")
    before = await state(fed)
    for text in (
        "/skip", "/end", "/stop", "/pause", "/resume", "/seek 0:10", "/volume 50",
        "/loop track", "/shuffle", "/remove 1", "/move 1 2", "/clear",
    ):  # fmt: skip
        assert await ask(fed, MEMBER, text) == [REFUSED], text
    for text in ("/settings", "/auth 30", "/unauth 30", "/lang ru"):
        assert await ask(fed, MEMBER, text) == [ADMINS_ONLY], text
    assert await ask(fed, MEMBER, "/stats") == ["Only the bot's owners can do that."]
    assert await ask(fed, MEMBER, "/broadcast hi") == ["Only the bot's owners can do that."]
    assert await state(fed) == before
    assert before.track == "Song Alpha"
    assert before.pending == ["Song Beta", "Song Gamma"]


async def test_voice_admins_creator_and_owners_control(fed: BotRig, media: MediaServer) -> None:
    await queue_songs(fed, media, "a", "b", "c")
    assert await ask(fed, VOICELESS_ADMIN, "/pause") == [REFUSED]
    assert (await state(fed)).paused is False
    assert await ask(fed, ADMIN, "/pause") == ["⏸ Paused."]
    assert (await state(fed)).paused is True
    assert await ask(fed, OWNER_OF_GROUP, "/resume") == ["▶️ Resumed."]
    assert (await state(fed)).paused is False
    assert await ask(fed, OWNER, "/volume 150") == ["🔊 Volume: 150%"]
    assert (await state(fed)).volume == 150
    assert await ask(fed, ADMIN, "/loop queue") == ["🔁 Loop: queue"]
    assert await ask(fed, ADMIN, "/loop") == ["➡️ Loop: off"]
    assert await ask(fed, ADMIN, "/move 2 1") == ["Moved Song Gamma to #1."]
    assert (await state(fed)).pending == ["Song Gamma", "Song Beta"]
    assert await ask(fed, ADMIN, "/remove 2") == ["Removed #2: Song Beta"]
    assert await ask(fed, ADMIN, "/seek 0:30") == ["⏩ Jumped to 0:30."]
    assert await ask(fed, ADMIN, "/clear") == ["🗑 Removed from the queue: 1."]
    after = await state(fed)
    assert (after.track, after.pending, after.loop) == ("Song Alpha", [], LoopMode.OFF)
    assert await ask(fed, ADMIN, "/end") == ["⏹ Stopped; the queue is cleared."]
    assert (await state(fed)).state is PlayerState.IDLE


async def test_authorised_user_controls_until_unauthorised(fed: BotRig, media: MediaServer) -> None:
    await queue_songs(fed, media, "a")
    member_message = fed.updates.message(GROUP, MEMBER, "hello")["message"]
    answer = await ask(fed, ADMIN, "/auth", reply_to=member_message)
    assert answer == ["✅ Bob Member can now control playback here."]
    assert await ask(fed, ADMIN, "/auth 20") == ["20 is already authorised here."]
    assert await ask(fed, MEMBER, "/authlist") == [
        "Authorised users in this chat:\n• Bob Member (20)"
    ]
    assert await ask(fed, MEMBER, "/pause") == ["⏸ Paused."]
    assert await ask(fed, ADMIN, "/unauth 20") == ["20 can no longer control playback here."]
    assert await ask(fed, MEMBER, "/resume") == [REFUSED]
    assert (await state(fed)).paused is True
    assert await ask(fed, ADMIN, "/unauth 20") == ["20 was not authorised here."]
    assert await ask(fed, MEMBER, "/authlist") == [
        "Nobody besides the administrators controls playback here."
    ]


async def test_chat_member_update_refreshes_the_admin_cache(
    fed: BotRig, media: MediaServer
) -> None:
    await queue_songs(fed, media, "a")
    assert await ask(fed, ADMIN, "/pause") == ["⏸ Paused."]
    fed.api.set_admins(GROUP, [admin(VOICELESS_ADMIN, can_manage_video_chats=False)])
    await fed.feed(fed.updates.chat_member(GROUP, OWNER_OF_GROUP, admin(ADMIN), member(ADMIN)))
    assert await ask(fed, ADMIN, "/resume") == [REFUSED]
    assert (await state(fed)).paused is True


async def test_admin_only_mode_limits_play(fed: BotRig, media: MediaServer) -> None:
    await fed.services.chat_settings.set_admin_only(GROUP, True)
    assert await ask(fed, MEMBER, f"/play {media.url('files/a.mp3')}") == [
        "This chat is in admin-only mode: only admins can add tracks."
    ]
    assert (await state(fed)).state is PlayerState.IDLE
    answer = await ask(fed, ADMIN, f"/play {media.url('files/a.mp3')}")
    assert answer == ["▶️ Now playing: Song Alpha (1:00)"]


async def test_settings_keyboard_changes_only_for_admins(fed: BotRig) -> None:
    assert await ask(fed, ADMIN, "/settings") == ["Settings for this chat (press to change):"]
    keyboard = fed.api.calls_of("sendMessage", GROUP)[-1].buttons()
    assert [text for text, _ in keyboard] == [
        "Admin-only mode: off",
        "Auto-end: default",
        "24/7 playlist: off",
        "24/7 plays: 🎵 sound only",
        "Video quality: default",
        "Language: auto",
    ]
    message_id = fed.api.calls_of("sendMessage", GROUP)[-1].result["message_id"]
    admin_only = SettingChange(v=CALLBACK_VERSION, key="admin", value="1").pack()
    assert keyboard[0][1] == admin_only

    # a forged press by a member: refused, nothing changes
    mark = fed.api.mark()
    await fed.feed(fed.updates.callback(GROUP, MEMBER, admin_only, message_id=message_id))
    answers = fed.api.calls_of("answerCallbackQuery")[-1]
    assert answers.params["text"] == ADMINS_ONLY
    assert (await fed.services.chat_settings.get(GROUP)).admin_only is False
    assert fed.api.calls_of("editMessageText")[mark:] == []

    await fed.feed(fed.updates.callback(GROUP, ADMIN, admin_only, message_id=message_id))
    assert fed.api.calls_of("answerCallbackQuery")[-1].params["text"] == "Saved."
    assert (await fed.services.chat_settings.get(GROUP)).admin_only is True
    edited = fed.api.calls_of("editMessageText", GROUP)[-1]
    assert edited.buttons()[0][0] == "Admin-only mode: on"

    auto_end = SettingChange(v=CALLBACK_VERSION, key="autoend", value="15").pack()
    await fed.feed(fed.updates.callback(GROUP, ADMIN, auto_end, message_id=message_id))
    assert (await fed.services.chat_settings.get(GROUP)).auto_end_seconds == 900

    # the 24/7 playlist as video: the button says so and flips back
    assert keyboard[3][1] == SettingChange(v=CALLBACK_VERSION, key="pvideo", value="1").pack()
    await fed.feed(fed.updates.callback(GROUP, ADMIN, keyboard[3][1], message_id=message_id))
    assert (await fed.services.chat_settings.get(GROUP)).playlist_video is True
    edited = fed.api.calls_of("editMessageText", GROUP)[-1]
    assert edited.buttons()[3] == (
        "24/7 plays: 🎬 picture and sound",
        SettingChange(v=CALLBACK_VERSION, key="pvideo", value="0").pack(),
    )

    # values no button of ours sends are refused as expired
    forged = SettingChange(v=CALLBACK_VERSION, key="autoend", value="7").pack()
    await fed.feed(fed.updates.callback(GROUP, ADMIN, forged, message_id=message_id))
    assert fed.api.calls_of("answerCallbackQuery")[-1].params["text"] == (
        "This button has expired."
    )
    assert (await fed.services.chat_settings.get(GROUP)).auto_end_seconds == 900


async def test_language_follows_chat_then_user(fed: BotRig) -> None:
    russian = user(40, "Дмитрий", language_code="ru")
    help_ru = await ask(fed, russian, "/help")
    assert help_ru[0].startswith("Sattva играет музыку в голосовом чате группы. Команды:")
    assert "/queue — показать очередь" in help_ru[0]
    assert await ask(fed, MEMBER, "/queue") == ["The queue is empty."]
    assert await ask(fed, ADMIN, "/lang uk") == ["Мова: українська."]
    assert await ask(fed, MEMBER, "/queue") == ["Черга порожня."]
    assert await ask(fed, russian, "/queue") == ["Черга порожня."]
    assert await ask(fed, ADMIN, "/lang auto") == ["Language set: English."]
    assert await ask(fed, russian, "/queue") == ["Очередь пуста."]


async def test_owner_stats_and_broadcast(fed: BotRig, media: MediaServer) -> None:
    await queue_songs(fed, media, "a", "b")
    stats = (await ask(fed, OWNER, "/stats"))[0].splitlines()
    assert stats[:3] == ["Active chats: 1", "Streams: 1", "Queued tracks: 1"]
    assert stats[3].startswith("Uptime: 0:0")
    assert stats[4].startswith("CPU: ")
    assert stats[4].endswith(" MB")
    assert stats[5] == f"  {GROUP}: 1"
    other = -1009
    script_admins = [admin(ADMIN)]
    fed.api.set_admins(other, script_admins)
    await ask(fed, MEMBER, "/help")  # the bot has now acted in GROUP
    await fed.feed(fed.updates.message(other, MEMBER, "/help"))
    fed.api.fail_next(
        "sendMessage", 403, "Forbidden: bot was kicked from the supergroup chat", chat_id=other
    )
    answer = await ask(fed, OWNER, "/broadcast Maintenance at noon")
    sent = [c for c in fed.api.calls_of("sendMessage") if c.text == "Maintenance at noon"]
    assert [c.chat_id for c in sent if c.status == 200] == [GROUP]
    assert [c.chat_id for c in sent if c.status == 403] == [other]
    assert answer[-1] == "Broadcast sent to 1 chats; failed in 1."


async def test_storage_outage_is_answered_and_the_bot_goes_on(
    fed: BotRig, redis_server: RedisServer
) -> None:
    redis_server.stop()
    try:
        assert await ask(fed, MEMBER, "/queue") == [
            "Storage is unavailable, try again in a moment."
        ]
        assert await ask(fed, ADMIN, "/skip") == ["Storage is unavailable, try again in a moment."]
    finally:
        redis_server.start()
    assert await ask(fed, MEMBER, "/queue") == ["The queue is empty."]


async def test_long_queue_is_paged_with_buttons(fed: BotRig, media: MediaServer) -> None:
    track = await fed.services.resolver.resolve(SourceRequest(query=media.url("files/a.mp3")))
    assert isinstance(track, Track)
    for _ in range(13):
        await fed.players.play(GROUP, track.with_new_id())
    first = (await ask(fed, MEMBER, "/queue"))[0].splitlines()
    assert first[2] == "Up next (12):"
    assert first[3] == "1. Song Alpha (1:00)"
    assert first[-1] == "10. Song Alpha (1:00)"
    listing = [c for c in fed.api.calls_of("sendMessage", GROUP) if "Up next" in c.text][-1]
    assert [text for text, _ in listing.buttons()] == ["1/2", "▶️"]
    next_page = listing.buttons()[1][1]
    mark = fed.api.mark()
    message_id = listing.result["message_id"]
    await fed.feed(fed.updates.callback(GROUP, MEMBER, next_page, message_id=message_id))
    edited = fed.api.calls_of("editMessageText", GROUP)[-1]
    assert edited.text.splitlines()[3:] == ["11. Song Alpha (1:00)", "12. Song Alpha (1:00)"]
    assert [text for text, _ in edited.buttons()] == ["◀️", "2/2"]
    assert fed.api.calls[mark:][-1].method == "answerCallbackQuery"
    assert (await ask(fed, MEMBER, "/queue 2"))[0].endswith("12. Song Alpha (1:00)")


async def test_an_unexpected_failure_is_answered_and_polling_goes_on(fed: BotRig) -> None:
    broken = Router(name="broken-for-test")

    async def boom(message: Message) -> None:
        raise RuntimeError("a bug")

    broken.message.register(boom, Command("boom"))
    fed.dp.include_router(broken)
    assert await ask(fed, MEMBER, "/boom") == ["Something went wrong. Try again."]
    assert await ask(fed, MEMBER, "/queue") == ["The queue is empty."]
    assert [c.params.get("language_code") for c in fed.api.calls_of("setMyCommands")] == [
        None,
        "en",
        "ru",
        "uk",
    ]


async def test_bot_removed_from_the_group_stops_its_stream(fed: BotRig, media: MediaServer) -> None:
    await queue_songs(fed, media, "a", "b")
    bot_user = fed.api.bot_user
    left = {"status": "left", "user": bot_user}
    update = fed.updates.chat_member(GROUP, ADMIN, admin(bot_user), left, about_the_bot=True)
    await fed.feed(update)
    after = await state(fed)
    assert (after.state, after.track, after.pending) == (PlayerState.IDLE, None, [])


async def test_full_queue_is_answered_and_keeps_its_tracks(fed: BotRig, media: MediaServer) -> None:
    track = await fed.services.resolver.resolve(SourceRequest(query=media.url("files/a.mp3")))
    assert isinstance(track, Track)
    limit = fed.settings.player.queue_limit
    for _ in range(limit + 1):  # one plays, ``limit`` wait
        await fed.players.play(GROUP, track.with_new_id())
    answers = await ask(fed, MEMBER, f"/play {media.url('files/b.mp3')}")
    assert answers == [f"The queue is full ({limit} tracks)."]
    after = await state(fed)
    assert after.pending == ["Song Alpha"] * limit
    assert after.track == "Song Alpha"
