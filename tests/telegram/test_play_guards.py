"""/play's guards on the whole bot (fake Bot API, real player, store and ffmpeg): what a
hostile getFile answer cannot make the bot fetch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.audio import make_tone
from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import TOKEN, FakeBotAPI
from tests.support.media_server import MediaServer
from tests.telegram.conftest import ADMIN, GROUP, MEMBER, script_group


def song_url(media: MediaServer, name: str) -> str:
    return media.url(f"files/{name}.mp3")


BAD_FILE = "Telegram gave an unsafe location for that file; it was not downloaded."

HOSTILE_PATHS = [
    f"../../bot{TOKEN}/sendMessage?chat_id={GROUP}&text=pwned",
    "../../../../etc/passwd",
    "music/../../../etc/passwd",
    "/etc/passwd",
    "http://127.0.0.1:9/x.mp3",
    "file:///etc/passwd",
    "music/file.mp3?x=1",
    "music/file.mp3#x",
    "music\\..\\..\\etc\\passwd",
    "music/%2e%2e/%2e%2e/etc/passwd",
    "music/./file.mp3",
    "music//file.mp3",
    "music/fi\nle.mp3",
    "music/fi\x00le.mp3",
]


def answers(rig: BotRig, after: int = 0) -> list[str]:
    """What the bot wrote in the group, sent or edited into place, cards left out."""
    return [
        c.text
        for c in rig.api.calls[after:]
        if c.method in ("sendMessage", "editMessageText")
        and c.chat_id == GROUP
        and c.status == 200
        and not any(data.startswith("c:") for _, data in c.buttons())
    ]


async def play_reply(fed: BotRig, file_id: str, content: bytes) -> list[str]:
    audio = fed.updates.audio_message(GROUP, MEMBER, file_id, file_size=len(content))
    mark = fed.api.mark()
    await fed.feed(fed.updates.message(GROUP, MEMBER, "/play", reply_to=audio))
    await fed.sender.drain()
    return answers(fed, mark)


@pytest.mark.parametrize("hostile", HOSTILE_PATHS)
async def test_a_hostile_file_path_is_refused_before_any_request(
    fed: BotRig, songs: dict[str, Path], hostile: str
) -> None:
    content = songs["a"].read_bytes()
    fed.api.register_file("hostile", content, hostile)
    seen = len(fed.api.requests)
    texts = await play_reply(fed, "hostile", content)
    assert texts[-1] == BAD_FILE
    made = fed.api.requests[seen:]
    # getFile and the bot's own answers; no download and nothing the path asked for
    assert {path.rsplit("/", 1)[-1] for _, path in made} <= {
        "getFile",
        "sendMessage",
        "editMessageText",
        "deleteMessage",
    }
    assert all(path.startswith(f"/bot{TOKEN}/") for _, path in made), made
    assert "pwned" not in " ".join(texts)
    assert (await fed.players.snapshot(GROUP)).now is None


async def test_an_odd_but_harmless_file_path_is_quoted_and_plays(
    fed: BotRig, songs: dict[str, Path]
) -> None:
    content = songs["a"].read_bytes()
    fed.api.register_file("spaced", content, "music/файл 7 (live).mp3")
    seen = len(fed.api.requests)
    texts = await play_reply(fed, "spaced", content)
    assert texts[-1] == "▶️ Now playing: Song Alpha (1:00)"
    downloads = [p for m, p in fed.api.requests[seen:] if p.startswith("/file/")]
    assert downloads == [f"/file/bot{TOKEN}/music/%D1%84%D0%B0%D0%B9%D0%BB%207%20(live).mp3"]


ELSEWHERE = (
    "Playback works in groups with a voice chat: add me to a group and use the commands there."
)


@pytest.mark.parametrize(
    "chat",
    [
        {"id": MEMBER["id"], "type": "private", "first_name": "Bob"},
        {"id": -1009900000001, "type": "channel", "title": "A channel"},
    ],
    ids=["private", "channel"],
)
@pytest.mark.parametrize("command", ["/play {url}", "/skip", "/pause", "/stop", "/queue"])
async def test_playback_commands_where_no_voice_chat_can_be(
    fed: BotRig, media: MediaServer, chat: dict[str, Any], command: str
) -> None:
    update = fed.updates.message(chat["id"], MEMBER, command.format(url=song_url(media, "a")))
    update["message"]["chat"] = chat
    mark = fed.api.mark()
    await fed.feed(update)
    await fed.sender.drain()
    sent = [c for c in fed.api.calls[mark:] if c.method == "sendMessage"]
    assert [(c.chat_id, c.text) for c in sent] == [(chat["id"], ELSEWHERE)]
    assert media.hits() == 0  # nothing fetched, nothing probed
    assert fed.engine.active_chats() == []
    assert (await fed.players.snapshot(chat["id"])).now is None


@contextlib.asynccontextmanager
async def bot_with(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path, **sections: Any
) -> AsyncIterator[BotRig]:
    script_group(fake_api)
    async with BotRig.open(
        fake_api, tmp_path, redis_url, locales_dir, poll=False, **sections
    ) as rig:
        yield rig


async def say(rig: BotRig, who: dict[str, Any], text: str) -> str:
    mark = rig.api.mark()
    await rig.feed(rig.updates.message(GROUP, who, text))
    await rig.sender.drain()
    return answers(rig, mark)[-1]


async def test_a_full_queue_refuses_before_anything_is_fetched(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path, media: MediaServer
) -> None:
    async with bot_with(
        fake_api, tmp_path, redis_url, locales_dir, player={"queue_limit": 1}
    ) as rig:
        a, b, c = (song_url(media, name) for name in "abc")
        assert (await say(rig, MEMBER, f"/play {a}")).startswith("▶️ Now playing")
        assert (await say(rig, MEMBER, f"/play {b}")).startswith("🕒 Queued #1")
        assert await say(rig, MEMBER, f"/play {c}") == "The queue is full (1 tracks)."
        assert media.hits("/files/c.mp3") == 0  # not even a HEAD: no probe, no fetch


async def test_a_user_flooding_play_is_slowed_down(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path, media: MediaServer
) -> None:
    async with bot_with(
        fake_api, tmp_path, redis_url, locales_dir, bot={"plays_per_user_per_minute": 3}
    ) as rig:
        a, b, c = (song_url(media, name) for name in "abc")
        for url in (a, b, a):
            assert not (await say(rig, MEMBER, f"/play {url}")).startswith("You are")
        hits = media.hits()
        for _ in range(5):
            refused = await say(rig, MEMBER, f"/play {c}")
            assert refused.startswith("You are adding tracks too fast; try again in ")
            assert refused.endswith(" s.")
        assert media.hits() == hits
        assert media.hits("/files/c.mp3") == 0
        # someone else is not held back by it
        assert (await say(rig, ADMIN, f"/play {c}")).startswith("🕒 Queued #3")


# -- the download folder --------------------------------------------------------------------


def cached(rig: BotRig) -> set[str]:
    folder = Path(rig.settings.sources.cache_dir)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


async def gone_from_cache(rig: BotRig, name: str, timeout: float = 15) -> None:
    for _ in range(int(timeout / 0.1)):
        if name not in cached(rig):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} still cached: {cached(rig)}")


async def reply_play(rig: BotRig, file_id: str, content: bytes) -> str:
    audio = rig.updates.audio_message(GROUP, MEMBER, file_id, file_size=len(content))
    mark = rig.api.mark()
    await rig.feed(rig.updates.message(GROUP, MEMBER, "/play", reply_to=audio))
    await rig.sender.drain()
    return answers(rig, mark)[-1]


async def test_a_refused_telegram_file_is_deleted_at_once(fed: BotRig) -> None:
    fed.api.register_file("words", b"just words, no audio here\n" * 500, "documents/file_3.mp3")
    assert await reply_play(fed, "words", b"x" * 13000) == "There is no audio to play in that."
    assert cached(fed) == set()


async def test_downloads_go_when_their_track_ended_or_was_removed(
    fed: BotRig, media: MediaServer, songs: dict[str, Path], tmp_path: Path
) -> None:
    # longer than a sweep's delay, so a sweep sees it queued (shorter ones wait for the
    # grace period to end, tested in tests/sources/test_cache.py)
    tone = make_tone(tmp_path / "short.mp3", seconds=5, title="Short Tone")
    short, long = tone.read_bytes(), songs["b"].read_bytes()
    fed.api.register_file("short", short, "music/file_1.mp3")
    fed.api.register_file("long", long, "music/file_2.mp3")
    assert (await reply_play(fed, "short", short)).startswith("▶️ Now playing: Short Tone")
    (short_file,) = cached(fed)
    await gone_from_cache(fed, short_file)  # played to its end: nothing needs it
    assert (await say(fed, MEMBER, f"/play {song_url(media, 'a')}")).startswith("▶️")
    assert (await reply_play(fed, "long", long)).startswith("🕒 Queued #1: Song Beta")
    (long_file,) = cached(fed)
    await asyncio.sleep(3)  # a sweep after the enqueue keeps a queued file
    assert cached(fed) == {long_file}
    assert await say(fed, ADMIN, "/remove 1") == "Removed #1: Song Beta"
    await gone_from_cache(fed, long_file)


async def test_a_full_download_folder_refuses_without_touching_queued_files(
    fake_api: FakeBotAPI,
    tmp_path: Path,
    redis_url: str,
    locales_dir: Path,
    songs: dict[str, Path],
) -> None:
    one_mb = {"max_download_mb": 1, "cache_max_mb": 1}
    async with bot_with(fake_api, tmp_path, redis_url, locales_dir, sources=one_mb) as rig:
        contents = {name: songs[name].read_bytes() for name in "abc"}
        assert sum(len(c) for c in contents.values()) > 1024 * 1024 > 2 * len(contents["a"])
        for name, content in contents.items():
            rig.api.register_file(name, content, f"music/{name}.mp3")
        assert (await reply_play(rig, "a", contents["a"])).startswith("▶️ Now playing")
        assert (await reply_play(rig, "b", contents["b"])).startswith("🕒 Queued #1")
        await asyncio.sleep(3)  # a sweep sees b queued: from now on the queue alone keeps it
        before = cached(rig)
        full = "The download space is full of queued files; try again when some have played."
        assert await reply_play(rig, "c", contents["c"]) == full
        assert cached(rig) == before
        assert await say(rig, ADMIN, "/remove 1") == "Removed #1: Song Beta"
        assert (await reply_play(rig, "c", contents["c"])).startswith("🕒 Queued #1: Song Gamma")
