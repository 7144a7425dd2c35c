"""The whole bot over long polling against the fake Bot API, on real parts: PlayerManager,
LocalEngine (real ffmpeg), a Redis queue store on redis-server, SQLite repositories and the
SourceResolver fetching generated audio from a loopback HTTP server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.domain.control import PlayerState
from bot.domain.events import AutoEndWarning, StreamStatus
from bot.telegram.callbacks import CALLBACK_VERSION, Control, track_tag
from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import Call
from tests.support.media_server import MediaServer
from tests.telegram.conftest import ADMIN, GROUP, MEMBER

REFUSED = "Only admins who can manage voice chats and authorised users can do that."
CONTROLS = ["⏸ Pause", "⏭ Skip", "⏹ Stop", "➡️ Loop: off", "📜 Queue"]


def is_card(call: Call) -> bool:
    return any(data.startswith("c:") for _, data in call.buttons())


def url(media: MediaServer, name: str) -> str:
    return media.url(f"files/{name}.mp3")


async def card_for(rig: BotRig, title: str, *, after: int = 0) -> Call:
    """The now-playing card the announcer posts when ``title`` starts."""
    return await rig.api.wait_call(
        ("sendMessage", "sendPhoto"),
        lambda c: is_card(c) and f"Now playing: {title} —" in c.text,
        chat_id=GROUP,
        after=after,
    )


async def until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


async def press(rig: BotRig, who: dict[str, object], card: Call, data: str) -> str:
    """Presses a button on ``card``; returns the callback answer's text."""
    mark = rig.api.mark()
    message_id = card.result["message_id"]
    rig.push(rig.updates.callback(GROUP, who, data, message_id=message_id))
    answer = await rig.api.wait_call("answerCallbackQuery", after=mark)
    return str(answer.params.get("text", ""))


async def test_play_queue_skip_and_announcements(rig: BotRig, media: MediaServer) -> None:
    await rig.say(GROUP, ADMIN, f"/play {url(media, 'a')}", "▶️ Now playing: Song Alpha (1:00)")
    card_a = await card_for(rig, "Song Alpha")
    assert [text for text, _ in card_a.buttons()] == CONTROLS
    assert "Requested by Alice Admin" in card_a.text

    await rig.say(GROUP, MEMBER, f"/play {url(media, 'b')}", "🕒 Queued #1: Song Beta (1:00)")
    listing = (await rig.say(GROUP, MEMBER, "/queue", "Up next")).text.splitlines()
    assert listing[0].startswith("▶️ Now playing: Song Alpha — 0:0")
    assert listing[0].endswith(" / 1:00")
    assert listing[1:] == ["", "Up next (1):", "1. Song Beta (1:00)"]

    before = await rig.players.snapshot(GROUP)
    await rig.say(GROUP, MEMBER, "/skip", REFUSED)
    after = await rig.players.snapshot(GROUP)
    assert after.now is not None
    assert before.now is not None
    assert after.now.track.id == before.now.track.id
    assert [t.title for t in after.pending] == ["Song Beta"]

    mark = rig.api.mark()
    await rig.say(GROUP, ADMIN, "/skip", "⏭ Skipped. Now playing: Song Beta")
    await card_for(rig, "Song Beta", after=mark)
    deleted = await rig.api.wait_call("deleteMessage", chat_id=GROUP, after=mark)
    assert int(deleted.params["message_id"]) == card_a.result["message_id"]
    assert (await rig.players.snapshot(GROUP)).pending == []

    await rig.say(GROUP, ADMIN, "/end", "⏹ Stopped; the queue is cleared.")
    await rig.api.wait_text(GROUP, "⏹ Playback has ended.", after=mark)
    assert (await rig.players.snapshot(GROUP)).state is PlayerState.IDLE


async def test_a_track_starting_by_itself_is_announced(rig: BotRig, media: MediaServer) -> None:
    await rig.say(GROUP, ADMIN, f"/play {url(media, 'short')}", "▶️ Now playing: Short Tone")
    await rig.say(GROUP, ADMIN, f"/play {url(media, 'a')}", "🕒 Queued #1: Song Alpha (1:00)")
    mark = rig.api.mark()
    # nobody asks: the short tone ends, Song Alpha starts, the chat is told
    card = await card_for(rig, "Song Alpha", after=mark)
    assert card.text.startswith("▶️ Now playing: Song Alpha — 0:0")
    assert not [c for c in rig.api.calls[mark:] if c.method == "answerCallbackQuery"]


async def test_play_by_reply_to_an_audio_message(
    rig: BotRig, media: MediaServer, songs: dict[str, Path]
) -> None:
    content = songs["b"].read_bytes()
    rig.api.register_file("file-b", content, "music/file_7.mp3")
    audio = rig.updates.audio_message(
        GROUP, MEMBER, "file-b", file_size=len(content), duration=60, file_name="b.mp3"
    )
    rig.push({"message": audio})
    mark = rig.api.mark()
    answer = await rig.say(GROUP, MEMBER, "/play", "Now playing", reply_to=audio, timeout=20)
    assert answer.text == "▶️ Now playing: Song Beta (1:00)"
    # the download showed progress in one message, which then became the answer
    sent = [c for c in rig.api.calls[mark:] if c.method == "sendMessage" and not is_card(c)]
    assert len(sent) == 1
    assert sent[0].text.startswith(("⏳ Downloading…", "🔎 Checking the file…"))
    assert answer.method == "editMessageText"
    assert int(answer.params["message_id"]) == sent[0].result["message_id"]
    assert [c.params["file_id"] for c in rig.api.calls_of("getFile")] == ["file-b"]
    snapshot = await rig.players.snapshot(GROUP)
    assert snapshot.now is not None
    assert snapshot.now.track.title == "Song Beta"
    assert snapshot.now.track.requested_by == MEMBER["id"]


async def test_buttons_forged_and_stale(rig: BotRig, media: MediaServer) -> None:
    await rig.say(GROUP, ADMIN, f"/play {url(media, 'a')}", "▶️ Now playing: Song Alpha")
    await rig.say(GROUP, ADMIN, f"/play {url(media, 'b')}", "🕒 Queued #1: Song Beta")
    card = await card_for(rig, "Song Alpha")
    buttons = dict(card.buttons())
    pause = buttons["⏸ Pause"]

    # a plain member presses (or forges) a valid button: refused, nothing changes
    assert await press(rig, MEMBER, card, pause) == REFUSED
    assert (await rig.players.snapshot(GROUP)).state is PlayerState.PLAYING

    mark = rig.api.mark()
    assert await press(rig, ADMIN, card, pause) == "⏸ Paused."
    assert (await rig.players.snapshot(GROUP)).state is PlayerState.PAUSED
    edited = await rig.api.wait_call("editMessageText", chat_id=GROUP, after=mark)
    assert edited.buttons()[0][0] == "▶️ Resume"
    assert edited.text.startswith("⏸ Paused: Song Alpha")

    assert await press(rig, ADMIN, card, buttons["⏭ Skip"]) == "⏭ Skipped."
    await card_for(rig, "Song Beta", after=mark)
    now = (await rig.players.snapshot(GROUP)).now
    assert now is not None
    assert now.track.title == "Song Beta"

    # the old card's buttons name Song Alpha: expired, and Song Beta plays on
    assert await press(rig, ADMIN, card, buttons["⏹ Stop"]) == "This button has expired."
    old_layout = Control(v=CALLBACK_VERSION - 1, action="stop", track=track_tag(now.track.id))
    assert await press(rig, ADMIN, card, old_layout.pack()) == "This button has expired."
    assert await press(rig, ADMIN, card, "junk:1") == "This button has expired."
    after = await rig.players.snapshot(GROUP)
    assert after.now is not None
    assert after.now.track.id == now.track.id
    assert after.state is PlayerState.PLAYING

    mark = rig.api.mark()
    queue_button = Control(v=CALLBACK_VERSION, action="queue", track=track_tag(now.track.id))
    assert await press(rig, MEMBER, card, queue_button.pack()) == ""
    listing = await rig.api.wait_message(GROUP, "Now playing: Song Beta", after=mark)
    assert listing.text.endswith("/ 1:00")


async def test_language_switch(rig: BotRig) -> None:
    await rig.say(GROUP, MEMBER, "/queue", "The queue is empty.")
    await rig.say(GROUP, ADMIN, "/lang ru", "Язык: русский.")
    await rig.say(GROUP, MEMBER, "/queue", "Очередь пуста.")
    answer = await rig.say(GROUP, MEMBER, "/play", "Использование")
    assert answer.text == (
        "Использование: /play <ссылка или слова для поиска> или ответьте /play на аудиосообщение."
    )
    await rig.say(GROUP, MEMBER, "/skip", "Это могут только админы")


async def test_flood_wait_then_the_answer_arrives(rig: BotRig) -> None:
    rig.api.fail_flood("sendMessage", retry_after=1, chat_id=GROUP)
    mark = rig.api.mark()
    answer = await rig.say(GROUP, MEMBER, "/queue", "The queue is empty.")
    attempts = [c for c in rig.api.calls[mark:] if c.method == "sendMessage"]
    assert [c.status for c in attempts] == [429, 200]
    assert answer.at - attempts[0].at >= 1.0


async def test_bot_removed_from_the_chat_stops_its_player(rig: BotRig, media: MediaServer) -> None:
    await rig.say(GROUP, ADMIN, f"/play {url(media, 'a')}", "▶️ Now playing: Song Alpha")
    await rig.say(GROUP, ADMIN, f"/play {url(media, 'b')}", "🕒 Queued #1: Song Beta")
    await card_for(rig, "Song Alpha")
    rig.api.fail_next(
        "sendMessage", 403, "Forbidden: bot was kicked from the supergroup chat", chat_id=GROUP
    )
    rig.push(rig.updates.message(GROUP, MEMBER, "/queue"))

    async def stopped() -> bool:
        # the store is cleared first, the engine stopped right after: wait for both
        snapshot = await rig.players.snapshot(GROUP)
        idle = snapshot.state is PlayerState.IDLE and not snapshot.pending
        return idle and rig.engine.active_chats() == []

    await until(stopped)
    assert rig.engine.process_ids() == []
    # the bot still answers elsewhere (another group: a private chat has no queue)
    await rig.say(GROUP - 1, MEMBER, "/queue", "The queue is empty.")


async def test_malformed_arguments_over_polling(rig: BotRig, media: MediaServer) -> None:
    await rig.say(GROUP, ADMIN, f"/play {url(media, 'a')}", "▶️ Now playing: Song Alpha")
    for text, usage in (
        ("/seek abc", "Usage: /seek mm:ss (for example /seek 1:30)."),
        ("/volume 0", "Usage: /volume <1-200>."),
        ("/volume 999", "Usage: /volume <1-200>."),
        ("/remove x", "Usage: /remove <number in the queue>."),
        ("/move 1", "Usage: /move <from> <to> (numbers in the queue)."),
        ("/loop nope", "Usage: /loop [off|track|queue]."),
        ("/play", "Usage: /play <link or search words>, or reply /play to an audio message."),
    ):
        answer = await rig.say(GROUP, ADMIN, text, lambda c: not is_card(c))
        assert answer.text == usage, text
    await rig.say(GROUP, ADMIN, "/play file:///etc/passwd", "This kind of link is not supported.")
    snapshot = await rig.players.snapshot(GROUP)
    assert snapshot.now is not None
    assert snapshot.now.track.title == "Song Alpha"
    assert snapshot.volume == 100


async def test_announcements_of_auto_end_and_failed_tracks(rig: BotRig) -> None:
    bus = rig.services.bus
    bus.publish(AutoEndWarning(chat_id=GROUP, seconds_left=60))
    await rig.api.wait_message(GROUP, "⏳ Nobody is listening: playback ends in 60 s.")
    bus.publish(StreamStatus(chat_id=GROUP, state="error", error="x", track_id="t1"))
    await rig.api.wait_message(GROUP, "⚠️ Playback failed; moving on.")
    bus.publish(
        StreamStatus(chat_id=GROUP, state="error", error="x", track_id="t2", title="Lost Song")
    )
    await rig.api.wait_message(GROUP, "⚠️ Could not play Lost Song; moving on.")
