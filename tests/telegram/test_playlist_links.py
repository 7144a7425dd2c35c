"""/play with a playlist link: the real yt-dlp lists a page of the loopback media server, the
entries are queued in one atomic batch and answered with one message, and each entry's
address is resolved when it starts (the local engine really plays it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.support.media_server import MediaServer
from tests.telegram.conftest import GROUP, MEMBER, script_group
from tests.telegram.test_commands import ask


def page(*names: str) -> str:
    tags = "".join(f'<audio src="/files/{name}.mp3"></audio>' for name in names)
    return f"<html><head><title>Loopback Mix</title></head><body>{tags}</body></html>"


@pytest.fixture
def bot_with(fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path) -> Any:
    script_group(fake_api)

    def open_rig(**player: Any) -> Any:
        return BotRig.open(
            fake_api,
            tmp_path,
            redis_url,
            locales_dir,
            poll=False,
            sources={"ytdlp_enabled": True},
            player=player,
        )

    return open_rig


@pytest.fixture
async def mix(media: MediaServer) -> str:
    media.pages["mix.html"] = page("a", "b", "c")
    return media.url("pages/mix.html")


async def test_a_playlist_link_queues_its_entries_with_one_answer(
    bot_with: Any, media: MediaServer, mix: str
) -> None:
    async with bot_with() as rig:
        mark = rig.api.mark()
        answers = await ask(rig, MEMBER, f"/play {mix}")
        assert answers == [
            "📃 Queued 3 tracks from Loopback Mix.\n▶️ Now playing: Loopback Mix (1) (1:00)"
        ]
        # the progress line was shown while the playlist was read, then edited into that
        sent = [c.text for c in rig.api.calls[mark:] if c.method == "sendMessage"]
        assert "📃 Reading the playlist…" in sent
        snap = await rig.players.snapshot(GROUP)
        assert snap.now is not None
        assert snap.now.track.title == "Loopback Mix (1)"
        assert [t.title for t in snap.pending] == ["Loopback Mix (2)", "Loopback Mix (3)"]
        assert [t.media for t in snap.pending] == ["", ""]  # resolved when they start
        assert rig.engine.active_chats() == [GROUP]
        # entries after the first were not fetched at /play (the next one may be prefetched)
        assert media.hits("/files/c.mp3") == 0


async def test_the_queue_limit_holds_for_the_batch_as_a_whole(
    bot_with: Any, media: MediaServer, mix: str
) -> None:
    async with bot_with(queue_limit=2) as rig:
        song = media.url("files/a.mp3")
        assert (await ask(rig, MEMBER, f"/play {song}"))[0].startswith("▶️ Now playing")
        assert (await ask(rig, MEMBER, f"/play {song}"))[0].startswith("🕒 Queued #1")
        # room for one: the first entry is queued, the answer says what did not fit
        assert await ask(rig, MEMBER, f"/play {mix}") == [
            "📃 Queued 1 track from Loopback Mix.\nThe queue is full: 2 more did not fit."
        ]
        snap = await rig.players.snapshot(GROUP)
        assert [t.title for t in snap.pending] == ["Song Alpha", "Loopback Mix (1)"]
        # full: refused before the page is even read
        hits = media.hits("/pages")
        assert await ask(rig, MEMBER, f"/play {mix}") == ["The queue is full (2 tracks)."]
        assert media.hits("/pages") == hits


async def test_a_long_playlist_is_cut_at_the_playlist_limit(
    bot_with: Any, media: MediaServer
) -> None:
    media.pages["long.html"] = page("a", "b", "c", "a", "b")
    async with bot_with(playlist_limit=2) as rig:
        assert await ask(rig, MEMBER, f"/play {media.url('pages/long.html')}") == [
            "📃 Queued 2 tracks from Loopback Mix.\nOnly the first 2 entries are taken.\n"
            "▶️ Now playing: Loopback Mix (1) (1:00)"
        ]
        assert len((await rig.players.snapshot(GROUP)).pending) == 1


async def test_a_page_without_media_gets_the_usual_refusal(
    bot_with: Any, media: MediaServer
) -> None:
    media.pages["none.html"] = "<html><head><title>x</title></head><body>words</body></html>"
    async with bot_with() as rig:
        answers = await ask(rig, MEMBER, f"/play {media.url('pages/none.html')}")
        assert answers == ["This kind of link is not supported."]
        assert await rig.players.chats_with_state() == []
