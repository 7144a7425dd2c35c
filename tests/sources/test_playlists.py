"""Playlist links through the real yt-dlp against the loopback media server: a generic HTML
page listing several media (a file, an HLS playlist, a redirect chain) is listed flat into
lazy tracks, and each entry's stream address is resolved later, through the same guards
as a /play link; a site stream URL's expiry is read from the URL or set from the TTL."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import SourcesConfig
from bot.domain.models import MediaKind, SourceKind, Track
from bot.engines.base import MediaError
from bot.metrics import REGISTRY
from bot.sources.base import Playlist, SourceError, SourceRequest
from bot.sources.listing import listing_to_playlist, stream_expiry
from bot.sources.resolver import SourceResolver
from tests.support.media_server import MediaServer

MIX = """<html><head><title>Loopback Mix</title></head><body>
<audio src="/files/tone.mp3"></audio>
<audio src="/files/list.m3u8"></audio>
<audio src="/redirect/2"></audio>
<audio src="/files/notes.txt"></audio>
</body></html>"""


def resolver(make_sources: Callable[..., SourcesConfig], **overrides: object) -> SourceResolver:
    limit = overrides.pop("playlist_limit", 50)
    assert isinstance(limit, int)
    return SourceResolver(
        make_sources(ytdlp_enabled=True, **overrides),
        max_track_seconds=3600,
        playlist_limit=limit,
    )


def refreshes(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "sattva_source_failures_total", {"kind": "refresh", "reason": reason}
    )
    return value or 0.0


async def test_a_page_of_media_is_listed_into_lazy_tracks_in_one_lookup(
    make_sources: Callable[..., SourcesConfig], media_server: MediaServer
) -> None:
    media_server.pages["mix.html"] = MIX
    res = resolver(make_sources)
    request = SourceRequest(
        query=media_server.url("pages/mix.html"), requested_by=7, requested_by_name="Ann"
    )
    found = await res.resolve(request)
    assert isinstance(found, Playlist)
    assert found.title == "Loopback Mix"
    assert (found.skipped, found.more) == (0, False)
    assert [t.source for t in found.tracks] == [
        media_server.url("files/tone.mp3"),
        media_server.url("files/list.m3u8"),
        media_server.url("redirect/2"),
        media_server.url("files/notes.txt"),
    ]
    for t in found.tracks:
        assert (t.media, t.kind, t.requested_by, t.requested_by_name) == (
            "",
            SourceKind.YTDLP,
            7,
            "Ann",
        )
    # listed, not resolved: no entry's media was fetched (nor the redirect followed)
    assert media_server.hits("/redirect") == 0
    assert media_server.hits("/files/tone.mp3") == 0


async def test_entries_are_resolved_when_due_through_the_url_route(
    make_sources: Callable[..., SourcesConfig], media_server: MediaServer
) -> None:
    media_server.pages["mix.html"] = MIX
    res = resolver(make_sources)
    found = await res.resolve(SourceRequest(query=media_server.url("pages/mix.html")))
    assert isinstance(found, Playlist)
    tone, hls, redirected, notes = found.tracks
    first = await res.fresh(1, tone)
    assert (first.id, first.title) == (tone.id, tone.title)  # still the queued track
    assert first.media == media_server.url("files/tone.mp3")
    assert first.duration == pytest.approx(2.0, abs=0.2)
    assert first.expires_at is None  # a plain media URL does not expire
    assert (await res.fresh(1, hls)).media == media_server.url("files/list.m3u8")
    assert (await res.fresh(1, redirected)).media == media_server.url("files/tone.mp3")
    before = refreshes("not_audio")
    with pytest.raises(MediaError) as err:
        await res.fresh(1, notes)  # a text file: refused as it would be at /play
    assert "not_audio" in str(err.value)
    assert refreshes("not_audio") == before + 1


async def test_the_listing_stops_at_the_playlist_limit(
    make_sources: Callable[..., SourcesConfig], media_server: MediaServer
) -> None:
    media_server.pages["mix.html"] = MIX
    found = await resolver(make_sources, playlist_limit=2).resolve(
        SourceRequest(query=media_server.url("pages/mix.html"))
    )
    assert isinstance(found, Playlist)
    assert [t.source for t in found.tracks] == [
        media_server.url("files/tone.mp3"),
        media_server.url("files/list.m3u8"),
    ]
    assert found.more


async def test_a_refresh_is_guarded_like_a_play(
    make_sources: Callable[..., SourcesConfig], media_server: MediaServer
) -> None:
    """An entry pointing at a private address is refused when it is resolved."""
    res = resolver(make_sources, allow_private_networks=False)
    entry = Track(title="x", source=media_server.url("files/tone.mp3"), media="")
    with pytest.raises(MediaError) as err:
        await res.fresh(1, entry)
    assert "private_network" in str(err.value)
    assert media_server.hits() == 0
    bad = Track(title="x", source="file:///etc/passwd", media="")
    with pytest.raises(MediaError):
        await res.fresh(1, bad)


async def test_a_page_that_lists_nothing_playable_is_refused(
    make_sources: Callable[..., SourcesConfig], media_server: MediaServer
) -> None:
    media_server.pages["empty.html"] = "<html><title>x</title><body>no media</body></html>"
    with pytest.raises(SourceError) as err:
        await resolver(make_sources).resolve(
            SourceRequest(query=media_server.url("pages/empty.html"))
        )
    assert err.value.code == "unsupported"


def test_listing_skips_entries_without_a_usable_address_or_too_long() -> None:
    info = {
        "_type": "playlist",
        "title": "Set",
        "webpage_url": "https://music.example/set",
        "entries": [
            {"_type": "url", "url": "https://music.example/a", "title": "A", "duration": 60},
            {"_type": "url", "url": "ftp://music.example/b", "title": "B"},
            {"_type": "url", "url": "https://music.example/c", "title": "C", "duration": 7200},
            {"_type": "url", "url": "https://music.example/d", "live_status": "is_live"},
            "not a dict",
        ],
    }
    found = listing_to_playlist(
        info, query="q", limit=10, max_seconds=3600, request=SourceRequest(query="q")
    )
    assert [(t.title, t.source, t.duration, t.is_live) for t in found.tracks] == [
        ("A", "https://music.example/a", 60.0, False),
        ("https://music.example/d", "https://music.example/d", None, True),
    ]
    assert (found.title, found.skipped, found.more) == ("Set", 2, False)
    with pytest.raises(SourceError) as err:
        listing_to_playlist(
            {**info, "entries": info["entries"][1:3]},
            query="q",
            limit=10,
            max_seconds=3600,
            request=SourceRequest(query="q"),
        )
    assert err.value.code == "not_found"


def test_stream_expiry_reads_the_url_or_falls_back_to_the_ttl() -> None:
    now = time.time()
    signed = f"https://rr3.googlevideo.com/videoplayback?expire={int(now) + 21600}&ei=x"
    assert stream_expiry(signed, now=now, ttl=1800) == int(now) + 21600
    assert stream_expiry("https://cdn.example/a.mp3", now=now, ttl=1800) == now + 1800
    # a past or malformed expiry is not believed
    assert stream_expiry(f"https://x.example/a?expire={int(now) - 5}", now=now, ttl=60) == now + 60
    assert stream_expiry("https://x.example/a?expire=soon", now=now, ttl=60) == now + 60


async def test_a_vplay_playlist_link_queues_video_entries_that_resolve_as_video(
    make_sources: Callable[..., SourcesConfig],
    media_server: MediaServer,
    videos: dict[str, Path],
) -> None:
    """/vplay with a playlist link: each lazy entry is queued as video in the chat's
    quality and resolved as video in that quality when due; an entry without a picture
    resolves as audio (as /vplay of such a file does)."""
    media_server.files["wide.mp4"] = (videos["landscape"], "video/mp4")
    media_server.pages["films.html"] = """<html><head><title>Films</title></head><body>
<video src="/files/wide.mp4"></video>
<audio src="/files/tone.mp3"></audio>
</body></html>"""
    res = resolver(make_sources)
    page = media_server.url("pages/films.html")
    found = await res.resolve(SourceRequest(query=page, video_quality="360p"))
    assert isinstance(found, Playlist)
    film, tone = found.tracks
    for entry in found.tracks:
        assert (entry.media, entry.media_kind, entry.quality) == ("", MediaKind.VIDEO, "360p")
    resolved = await res.fresh(1, film)
    assert (resolved.id, resolved.media) == (film.id, media_server.url("files/wide.mp4"))
    assert (resolved.media_kind, resolved.quality) == (MediaKind.VIDEO, "360p")
    assert (resolved.width, resolved.height, resolved.has_audio) == (640, 360, True)
    sound = await res.fresh(1, tone)
    assert (sound.media_kind, sound.quality) == (MediaKind.AUDIO, None)
    # the same link with /play: audio entries, and the film resolves as sound only
    listed = await res.resolve(SourceRequest(query=page))
    assert isinstance(listed, Playlist)
    assert {t.media_kind for t in listed.tracks} == {MediaKind.AUDIO}
    assert (await res.fresh(1, listed.tracks[0])).media_kind is MediaKind.AUDIO
