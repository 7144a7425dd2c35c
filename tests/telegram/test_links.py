"""/play with streaming-service links, the whole bot on real parts: the saved pages served
from loopback, real yt-dlp searching a loopback search page, the local engine playing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yt_dlp

from tests.sources.test_cookies import youtube_bot_check
from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.support.service_pages import ServicePages
from tests.telegram.conftest import ADMIN, GROUP, script_group


@pytest.fixture
async def rig(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path
) -> AsyncIterator[BotRig]:
    script_group(fake_api)
    async with BotRig.open(
        fake_api,
        tmp_path,
        redis_url,
        locales_dir,
        sources={"ytdlp_enabled": True},
        player={"playlist_limit": 2},
    ) as rig:
        yield rig


async def test_a_track_link_says_which_match_was_chosen(
    rig: BotRig, service_pages: ServicePages
) -> None:
    call = await rig.say(
        GROUP,
        ADMIN,
        "/play https://open.spotify.com/track/4u7EnebtmKWzUH433cf5Qv?si=x",
        lambda c: "chosen match" in c.text,
        timeout=30,
    )
    first, second = call.text.split("\n")
    assert first.startswith("▶️ Now playing: Queen Bohemian Rhapsody (Official Audio)")
    assert second.startswith(
        "🔎 Spotify: Queen — Bohemian Rhapsody; chosen match: Queen Bohemian Rhapsody"
    )
    assert service_pages.searches == ["Queen Bohemian Rhapsody"]


async def test_an_album_queues_up_to_the_limit(rig: BotRig, service_pages: ServicePages) -> None:
    """player.playlist_limit is 2 here: the third track is not even searched."""
    call = await rig.say(
        GROUP,
        ADMIN,
        "/play https://open.spotify.com/album/4m2880jivSbbyEGAKfITCa",
        lambda c: c.text.startswith("🕒 Queued"),
        timeout=60,
    )
    assert call.text == (
        "🕒 Queued 2 of 3 tracks from Spotify “Daft Punk — Random Access Memories”.\n"
        "Only the first 2 are taken."
    )
    assert len(service_pages.searches) == 2
    snapshot = await rig.players.snapshot(GROUP)
    titles = [snapshot.now.track.title if snapshot.now else ""] + [
        t.title for t in snapshot.pending
    ]
    assert [t.split(" (Official")[0] for t in titles] == [
        "Daft Punk Give Life Back to Music",
        "Daft Punk Pharrell Williams Nile Rodgers Get Lucky",
    ]


async def test_a_playlist_skips_what_is_not_found(rig: BotRig, service_pages: ServicePages) -> None:
    call = await rig.say(
        GROUP,
        ADMIN,
        "/play https://www.deezer.com/playlist/908622995",
        lambda c: c.text.startswith("🕒 Queued"),
        timeout=60,
    )
    assert call.text == (
        "🕒 Queued 1 of 2 tracks from Deezer “Top France”.\n1 were not found and were skipped."
    )
    assert service_pages.searches == [
        "Orelsan Tout va bien",
        "Orelsan Stromae Missing Remix (Live)",
    ]


async def test_a_page_that_changed_shape_is_a_clear_answer(
    rig: BotRig, service_pages: ServicePages
) -> None:
    await rig.say(
        GROUP,
        ADMIN,
        "/play https://open.spotify.com/track/0000000000changed",
        "Could not read this Spotify link: its page does not show what it plays.",
        timeout=20,
    )
    await rig.say(
        GROUP,
        ADMIN,
        "/play https://music.yandex.ru/album/9999",
        "Could not read this Yandex Music link: its page does not show what it plays.",
        timeout=20,
    )
    assert (await rig.players.snapshot(GROUP)).now is None


async def test_youtubes_bot_check_gets_its_own_answer(
    rig: BotRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error yt-dlp raises for YouTube's bot check (as yt-dlp words it) reaches the
    chat as its own sentence, not as "unavailable"."""

    def extract_info(self: object, url: str, download: bool = True, **kw: object) -> object:
        raise yt_dlp.utils.DownloadError(youtube_bot_check())

    monkeypatch.setattr(yt_dlp.YoutubeDL, "extract_info", extract_info)
    await rig.say(
        GROUP,
        ADMIN,
        "/play never gonna give you up",
        "YouTube asks this server to prove it is not a bot, so YouTube cannot be played right "
        "now; the bot's owner can fix it with YouTube cookies.",
        timeout=20,
    )
