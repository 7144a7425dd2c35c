"""/play's guards on the whole bot (fake Bot API, real player, store and ffmpeg): what a
hostile getFile answer cannot make the bot fetch."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

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
