"""/play's guards on the whole bot (fake Bot API, real player, store and ffmpeg): what a
hostile getFile answer cannot make the bot fetch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import TOKEN
from tests.telegram.conftest import GROUP, MEMBER

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
