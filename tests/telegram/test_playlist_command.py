"""/playlist end to end: a user saves the chat's queue, adds links to a playlist, plays it
back into another chat's queue in one batch, and every refusal gets its sentence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.bot_rig import BotRig
from tests.support.fake_botapi import FakeBotAPI
from tests.support.media_server import MediaServer
from tests.telegram.conftest import ADMIN, GROUP, MEMBER, script_group
from tests.telegram.test_commands import ask, queue_songs
from tests.telegram.test_play_guards import ELSEWHERE, play_reply


@pytest.fixture
async def small(
    fake_api: FakeBotAPI, tmp_path: Path, redis_url: str, locales_dir: Path
) -> AsyncIterator[BotRig]:
    """The fed bot with small playlist limits: 2 playlists of 3 tracks per user."""
    script_group(fake_api)
    async with BotRig.open(
        fake_api,
        tmp_path,
        redis_url,
        locales_dir,
        poll=False,
        playlists={"max_per_user": 2, "max_tracks": 3},
        sources={"ytdlp_enabled": True},
    ) as rig:
        yield rig


async def test_save_show_play_and_remove(small: BotRig, media: MediaServer) -> None:
    rig = small
    await queue_songs(rig, media, "a", "b")
    assert await ask(rig, MEMBER, "/playlist save Road") == ["💾 Saved as Road: 2."]
    assert await ask(rig, MEMBER, "/playlist") == ["Your playlists:\nRoad: 2"]
    assert await ask(rig, MEMBER, "/playlist show road") == [
        "📃 Road:\n1. Song Alpha (1:00)\n2. Song Beta (1:00)"
    ]
    await rig.players.stop(GROUP)
    assert await ask(rig, MEMBER, "/playlist play road") == [
        "📃 Queued 2 tracks from Road.\n▶️ Now playing: Song Alpha (1:00)"
    ]
    snap = await rig.players.snapshot(GROUP)
    assert snap.now is not None
    assert snap.now.track.requested_by == MEMBER["id"]
    assert [t.title for t in snap.pending] == ["Song Beta"]
    assert rig.engine.active_chats() == [GROUP]
    assert await ask(rig, MEMBER, "/playlist remove road 1") == ["🗑 Removed Song Alpha from road."]
    assert await ask(rig, MEMBER, "/playlist remove road 5") == [
        "There is no track #5 in road (it has 1)."
    ]
    assert await ask(rig, MEMBER, "/playlist remove Road") == ["🗑 Deleted the playlist Road."]
    assert await ask(rig, MEMBER, "/playlist") == [
        "You have no saved playlists. Save this chat's queue with /playlist save NAME."
    ]


async def test_add_resolves_like_play_and_holds_the_limits(
    small: BotRig, media: MediaServer
) -> None:
    rig = small
    a, b, c = (media.url(f"files/{n}.mp3") for n in "abc")
    assert await ask(rig, MEMBER, f"/playlist add mix {a}") == ["💾 Added to mix: 1."]
    media.pages["two.html"] = f'<audio src="{b}"></audio><audio src="{c}"></audio>'
    assert await ask(rig, MEMBER, f"/playlist add mix {c}") == ["💾 Added to mix: 1."]
    # a playlist link adds its entries; the length limit (3) cuts the rest
    assert await ask(rig, MEMBER, f"/playlist add mix {media.url('pages/two.html')}") == [
        "💾 Added to mix: 1.\nA playlist holds at most 3 tracks: 1 more were left out."
    ]
    assert await ask(rig, MEMBER, "/playlist show mix") == [
        "📃 mix:\n1. Song Alpha (1:00)\n2. Song Gamma (1:00)\n3. two (1) (?)"
    ]
    assert await ask(rig, MEMBER, f"/playlist add mix {b}") == ["mix is full (3 tracks)."]
    assert await ask(rig, MEMBER, f"/playlist add other {b}") == ["💾 Added to other: 1."]
    assert await ask(rig, MEMBER, f"/playlist add third {b}") == [
        "You can keep at most 2 playlists; remove one first."
    ]
    # refused like /play: nothing stored
    assert await ask(rig, MEMBER, "/playlist add other file:///etc/passwd") == [
        "This kind of link is not supported."
    ]
    assert await ask(rig, MEMBER, "/playlist show other") == ["📃 other:\n1. Song Beta (1:00)"]
    assert rig.engine.active_chats() == []  # nothing of this was played


async def test_refusals(small: BotRig, media: MediaServer) -> None:
    rig = small
    usage = (
        "Usage: /playlist list | save NAME | add NAME <link or search words> | play NAME | "
        "show NAME | remove NAME [number]."
    )
    for text in ("/playlist nope", "/playlist save", "/playlist add x", "/playlist remove x y"):
        assert await ask(rig, MEMBER, text) == [usage], text
    assert await ask(rig, MEMBER, "/playlist save two words") == [usage]
    assert await ask(rig, MEMBER, "/playlist show a;b") == [
        "A playlist name is one word of up to 32 letters, digits, - or _."
    ]
    assert await ask(rig, MEMBER, "/playlist play ghost") == ["You have no playlist named ghost."]
    assert await ask(rig, MEMBER, "/playlist save empty") == ["Nothing is queued here to save."]
    await queue_songs(rig, media, "a", "b", "c")
    await queue_songs(rig, media, "a")
    assert await ask(rig, MEMBER, "/playlist save big") == [
        "💾 Saved as big: 3.\nA playlist holds at most 3 tracks: 1 more were left out."
    ]


async def test_playlists_follow_the_user_and_the_chat_rules(
    small: BotRig, media: MediaServer
) -> None:
    rig = small
    await queue_songs(rig, media, "a")
    assert await ask(rig, MEMBER, "/playlist save mine") == ["💾 Saved as mine: 1."]
    # in a private chat: the list is there, but nothing plays or is saved from it
    private = {"id": MEMBER["id"], "type": "private", "first_name": "Bob"}
    for text, expected in (
        ("/playlist", "Your playlists:\nmine: 1"),
        ("/playlist play mine", ELSEWHERE),
        ("/playlist save mine", ELSEWHERE),
    ):
        update = rig.updates.message(MEMBER["id"], MEMBER, text)
        update["message"]["chat"] = private
        mark = rig.api.mark()
        await rig.feed(update)
        await rig.sender.drain()
        sent = [c.text for c in rig.api.calls[mark:] if c.method == "sendMessage"]
        assert sent == [expected], text
    # admin-only mode: playing a playlist needs the /play right; keeping one does not
    await rig.services.chat_settings.set_admin_only(GROUP, True)
    assert await ask(rig, MEMBER, "/playlist play mine") == [
        "This chat is in admin-only mode: only admins can add tracks."
    ]
    assert await ask(rig, MEMBER, "/playlist show mine") == ["📃 mine:\n1. Song Alpha (1:00)"]
    # an empty playlist plays nothing
    assert await ask(rig, MEMBER, "/playlist remove mine 1") == ["🗑 Removed Song Alpha from mine."]
    assert await ask(rig, ADMIN, "/playlist play mine") == ["You have no playlist named mine."]
    assert await ask(rig, MEMBER, "/playlist play mine") == [
        "This chat is in admin-only mode: only admins can add tracks."
    ]
    await rig.services.chat_settings.set_admin_only(GROUP, False)
    assert await ask(rig, MEMBER, "/playlist play mine") == ["mine is empty."]
    # a message without a user (an anonymous admin posts as the group) keeps none
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group"}
    update = rig.updates.message(GROUP, anonymous, "/playlist")
    update["message"].pop("from")
    mark = rig.api.mark()
    await rig.feed(update)
    await rig.sender.drain()
    sent = [c.text for c in rig.api.calls[mark:] if c.method == "sendMessage"]
    assert sent == ["Saved playlists belong to users; write as yourself."]


async def test_telegram_files_are_not_saved_and_say_so(
    small: BotRig, media: MediaServer, songs: dict[str, Path]
) -> None:
    rig = small
    content = songs["b"].read_bytes()
    rig.api.register_file("upload", content, "music/b.mp3")
    assert (await play_reply(rig, "upload", content))[-1].startswith("▶️ Now playing")
    assert await ask(rig, MEMBER, "/playlist save up") == [
        "Not saved (Telegram files cannot be found again later): 1."
    ]
    assert await ask(rig, MEMBER, "/playlist") == [
        "You have no saved playlists. Save this chat's queue with /playlist save NAME."
    ]
    await queue_songs(rig, media, "a")
    assert await ask(rig, MEMBER, "/playlist save up") == [
        "💾 Saved as up: 1.\nNot saved (Telegram files cannot be found again later): 1."
    ]
