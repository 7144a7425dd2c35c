"""Files over the Bot API's 20 MB and t.me message links, the whole bot on real parts: the
fake Bot API refuses the file as Telegram does ("file is too big"), and the local engine's
virtual account reads what its messages folder holds, as an assistant reads over MTProto."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.engines.local import LocalEngine
from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.telegram.conftest import ADMIN, GROUP, MEMBER, script_group


@pytest.fixture
def seen(tmp_path: Path, songs: dict[str, Path]) -> Path:
    folder = tmp_path / "seen"
    (folder / "somechannel").mkdir(parents=True)
    shutil.copy(songs["c"], folder / "somechannel" / "42.mp3")
    (folder / str(GROUP)).mkdir()
    return folder


@pytest.fixture
async def rig(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path, seen: Path
) -> AsyncIterator[BotRig]:
    script_group(fake_api)
    fake_api.max_file_bytes = 1000  # the "20 MB" of this test: the songs are bigger
    engine = LocalEngine(account="a1", messages_dir=str(seen))
    async with BotRig.open(fake_api, tmp_path, redis_url, locales_dir, engine=engine) as rig:
        yield rig


async def test_a_big_replied_file_is_read_by_the_assistant(
    rig: BotRig, seen: Path, songs: dict[str, Path]
) -> None:
    content = songs["b"].read_bytes()
    rig.api.register_file("file-b", content, "music/file_7.mp3")
    audio = rig.updates.audio_message(
        GROUP, MEMBER, "file-b", file_size=len(content), duration=60, file_name="b.mp3"
    )
    # what the assistant sees of the group: that message, with the same file
    shutil.copy(songs["b"], seen / str(GROUP) / f"{audio['message_id']}.mp3")
    rig.push({"message": audio})
    mark = rig.api.mark()
    answer = await rig.say(GROUP, MEMBER, "/play", "Now playing", reply_to=audio, timeout=20)
    assert answer.text == "▶️ Now playing: Song Beta (1:00)"
    # the same progress message as a Bot API download, edited into the answer
    sent = [c for c in rig.api.calls[mark:] if c.method == "sendMessage" and c.chat_id == GROUP]
    assert sent[0].text.startswith(("⏳ Downloading…", "🔎 Checking the file…"))
    assert answer.method == "editMessageText"
    assert [c.params["file_id"] for c in rig.api.calls_of("getFile")] == ["file-b"]
    assert not [r for r in rig.api.requests if r[1].startswith("/file/")]  # no Bot API download


async def test_message_links(rig: BotRig) -> None:
    await rig.say(
        GROUP, ADMIN, "/play https://t.me/somechannel/42", "▶️ Now playing: Song Gamma (1:00)",
        timeout=20,
    )  # fmt: skip
    await rig.say(
        GROUP,
        ADMIN,
        "/play https://t.me/c/1999999999/3",
        "No assistant account can see that message: add one to that chat (or make the chat "
        "public), then try again.",
    )
    snapshot = await rig.players.snapshot(GROUP)
    assert snapshot.now is not None
    assert snapshot.now.track.source == "https://t.me/somechannel/42"


async def test_without_an_assistant_that_reads_the_answer_says_why(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path, songs: dict[str, Path]
) -> None:
    script_group(fake_api)
    fake_api.max_file_bytes = 1000
    async with BotRig.open(fake_api, tmp_path, redis_url, locales_dir) as rig:
        content = songs["a"].read_bytes()
        rig.api.register_file("file-a", content, "music/file_8.mp3")
        audio = rig.updates.audio_message(GROUP, MEMBER, "file-a", file_size=len(content))
        rig.push({"message": audio})
        await rig.say(
            GROUP,
            MEMBER,
            "/play",
            "Files over 20 MB and t.me message links are read by an assistant account, and "
            "none is running here.",
            reply_to=audio,
        )
        await rig.say(
            GROUP,
            MEMBER,
            "/play https://t.me/somechannel/42",
            "Files over 20 MB and t.me message links are read by an assistant account, and "
            "none is running here.",
        )
