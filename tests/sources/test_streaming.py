"""Streaming-service links: which links are recognised, what each saved page says it plays,
the pages fetched from loopback through the guard, a page that changed shape, and the
search through real yt-dlp."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.config import SourcesConfig
from bot.domain.models import Track
from bot.metrics import SOURCE_FAILURES
from bot.sources.base import Playlist, Progress, SourceError, SourceRequest
from bot.sources.page_meta import (
    Listing,
    Unreadable,
    Wanted,
    deezer_listing,
    iso_duration,
    jsonld_listing,
    opengraph_track,
    spotify_listing,
)
from bot.sources.resolver import SourceResolver
from bot.sources.streaming import recognise
from tests.support.service_pages import PAGES, ServicePages

SPOTIFY_TRACK = "https://open.spotify.com/track/4u7EnebtmKWzUH433cf5Qv?si=abc"
SPOTIFY_ALBUM = "https://open.spotify.com/intl-de/album/4m2880jivSbbyEGAKfITCa"
APPLE_SONG = "https://music.apple.com/us/song/halo/1440776022"
APPLE_ALBUM = "https://music.apple.com/us/album/abbey-road-remastered/1441164426"
APPLE_IN_ALBUM = APPLE_ALBUM + "?i=1441164589"
APPLE_PLAYLIST = "https://music.apple.com/us/playlist/chill-mix/pl.u-abc123"
DEEZER_TRACK = "https://www.deezer.com/fr/track/3135556"
DEEZER_ALBUM = "https://deezer.com/album/302127"
DEEZER_PLAYLIST = "https://www.deezer.com/en/playlist/908622995"
YANDEX_TRACK = "https://music.yandex.ru/album/3059/track/25063"
YANDEX_ALBUM = "https://music.yandex.ru/album/3059"
TIDAL_TRACK = "https://listen.tidal.com/track/5121839"
TIDAL_ALBUM = "https://tidal.com/browse/album/5121837"


@pytest.mark.parametrize(
    ("url", "service", "kind", "page"),
    [
        (SPOTIFY_TRACK, "Spotify", "track", "https://open.spotify.com/embed/track/4u7EnebtmKWzUH433cf5Qv"),
        (SPOTIFY_ALBUM, "Spotify", "album", "https://open.spotify.com/embed/album/4m2880jivSbbyEGAKfITCa"),
        ("https://open.spotify.com/playlist/37i9dQZF1DXcBWIGoYBM5M", "Spotify", "playlist", "https://open.spotify.com/embed/playlist/37i9dQZF1DXcBWIGoYBM5M"),
        (APPLE_SONG, "Apple Music", "track", APPLE_SONG),
        (APPLE_IN_ALBUM, "Apple Music", "track", APPLE_ALBUM),
        (APPLE_PLAYLIST, "Apple Music", "playlist", APPLE_PLAYLIST),
        (DEEZER_TRACK, "Deezer", "track", "https://www.deezer.com/en/track/3135556"),
        (DEEZER_ALBUM, "Deezer", "album", "https://www.deezer.com/en/album/302127"),
        (YANDEX_TRACK, "Yandex Music", "track", YANDEX_TRACK),
        ("https://music.yandex.com/users/someone/playlists/1000", "Yandex Music", "playlist", "https://music.yandex.com/users/someone/playlists/1000"),
        (TIDAL_TRACK, "Tidal", "track", "https://tidal.com/browse/track/5121839"),
        (TIDAL_ALBUM, "Tidal", "album", TIDAL_ALBUM),
    ],
)  # fmt: skip
def test_service_links_are_recognised(url: str, service: str, kind: str, page: str) -> None:
    link = recognise(url)
    assert link is not None
    assert (link.service, link.kind, link.page) == (service, kind, page)


@pytest.mark.parametrize(
    "url",
    [
        "https://open.spotify.com/artist/4tZwfgrHOc3mvqYlEYSvVi",  # an artist: not a list
        "https://open.spotify.com/",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "ftp://open.spotify.com/track/4u7EnebtmKWzUH433cf5Qv",
        "https://open.spotify.com.evil.example/track/4u7EnebtmKWzUH433cf5Qv",
        "https://music.yandex.ru/artist/3059",
    ],
)
def test_other_links_are_not_service_links(url: str) -> None:
    assert recognise(url) is None


def page(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def w(title: str, *artists: str, seconds: float | None = None) -> Wanted:
    return Wanted(title, tuple(artists), seconds)


DAFT = "Daft Punk"
PAGE_LISTINGS: list[tuple[Callable[[str], Listing], str, Listing]] = [
    (
        spotify_listing,
        "spotify_track.html",
        Listing(
            "track",
            "Queen — Bohemian Rhapsody",
            (w("Bohemian Rhapsody", "Queen", seconds=354.32),),
        ),
    ),
    (
        spotify_listing,
        "spotify_album.html",
        Listing(
            "album",
            "Daft Punk — Random Access Memories",
            (
                w("Give Life Back to Music", DAFT, seconds=274.0),
                w("Get Lucky", DAFT, "Pharrell Williams", "Nile Rodgers", seconds=369.0),
                w("Missing Song Nobody Has", DAFT, seconds=200.0),
            ),
        ),
    ),
    (
        jsonld_listing,
        "apple_song.html",
        Listing("track", "Beyoncé — Halo", (w("Halo", "Beyoncé", seconds=261.0),)),
    ),
    (
        jsonld_listing,
        "apple_playlist.html",
        Listing(
            "playlist",
            "Chill Mix",
            (w("Teardrop", "Massive Attack", seconds=329.0), w("Porcelain", "Moby", seconds=241.0)),
        ),
    ),
    (
        deezer_listing,
        "deezer_track.html",
        Listing(
            "track",
            "Daft Punk — Harder, Better, Faster, Stronger",
            (w("Harder, Better, Faster, Stronger", DAFT, seconds=224.0),),
        ),
    ),
    (
        deezer_listing,
        "deezer_album.html",
        Listing(
            "album",
            "Daft Punk — Discovery",
            (w("One More Time", DAFT, seconds=320.0), w("Aerodynamic", DAFT, seconds=212.0)),
        ),
    ),
    (
        deezer_listing,
        "deezer_playlist.html",
        Listing(
            "playlist",
            "Top France",
            (
                w("Tout va bien", "Orelsan", seconds=180.0),
                w("Missing Remix (Live)", "Orelsan", "Stromae", seconds=201.0),
            ),
        ),
    ),
    (
        jsonld_listing,
        "yandex_album.html",
        Listing(
            "album",
            "Кино — Группа крови",
            (
                w("Группа крови", "Кино", seconds=286.0),
                w("Закрой за мной дверь, я ухожу", "Кино", seconds=257.0),
            ),
        ),
    ),
    (
        opengraph_track,
        "tidal_track.html",
        Listing("track", "M83 — Midnight City", (w("Midnight City", "M83"),)),
    ),
    (
        jsonld_listing,
        "tidal_album.html",
        Listing(
            "album",
            "M83 — Hurry Up, We're Dreaming",
            (w("Intro", "M83", seconds=322.0), w("Midnight City", "M83", seconds=243.0)),
        ),
    ),
]


@pytest.mark.parametrize(("parse", "name", "expected"), PAGE_LISTINGS)
def test_saved_pages_are_read(
    parse: Callable[[str], Listing], name: str, expected: Listing
) -> None:
    assert parse(page(name)) == expected


def test_the_linked_track_of_an_album_page() -> None:
    listing = jsonld_listing(page("apple_album.html"), track_id="1441164589")
    assert listing == Listing(
        "track", "The Beatles — Something", (w("Something", "The Beatles", seconds=183.0),)
    )
    with pytest.raises(Unreadable):
        jsonld_listing(page("apple_album.html"), track_id="1")


@pytest.mark.parametrize(
    ("parse", "name"),
    [
        (spotify_listing, "spotify_changed.html"),  # the embed data has another shape
        (spotify_listing, "apple_song.html"),  # no embed data at all
        (jsonld_listing, "yandex_captcha.html"),  # a captcha instead of the page
        (opengraph_track, "yandex_captcha.html"),
        (deezer_listing, "spotify_track.html"),
        (deezer_listing, "yandex_track.html"),
    ],
)
def test_pages_that_changed_shape_are_unreadable(
    parse: Callable[[str], Listing], name: str
) -> None:
    with pytest.raises(Unreadable):
        parse(page(name))


@pytest.mark.parametrize(
    "html",
    [
        "",
        "<script id=__NEXT_DATA__>{not json</script>",
        '<script id="__NEXT_DATA__">{"props": {"pageProps": {"state": {"data": {"entity": '
        '{"type": "album", "name": "X", "trackList": [{"title": 5}]}}}}}}</script>',
        '<script id="__NEXT_DATA__">[]</script>',
    ],
)
def test_broken_embeds_never_raise_anything_else(html: str) -> None:
    with pytest.raises(Unreadable):
        spotify_listing(html)


def test_iso_durations() -> None:
    assert iso_duration("PT4M21S") == 261.0
    assert iso_duration("PT1H2M3.5S") == 3723.5
    assert iso_duration("P0DT0H3M0S") == 180.0
    assert iso_duration("PT") is None
    assert iso_duration("4:21") is None
    assert iso_duration(261) is None


# -- fetched from loopback, searched through real yt-dlp --------------------------------------


@pytest.mark.parametrize(
    ("url", "kind", "title", "count"),
    [
        (SPOTIFY_TRACK, "track", "Queen — Bohemian Rhapsody", 1),
        (SPOTIFY_ALBUM, "album", "Daft Punk — Random Access Memories", 3),
        (APPLE_SONG, "track", "Beyoncé — Halo", 1),
        (APPLE_IN_ALBUM, "track", "The Beatles — Something", 1),
        (APPLE_ALBUM, "album", "The Beatles — Abbey Road (Remastered)", 2),
        (APPLE_PLAYLIST, "playlist", "Chill Mix", 2),
        (DEEZER_TRACK, "track", "Daft Punk — Harder, Better, Faster, Stronger", 1),
        (DEEZER_ALBUM, "album", "Daft Punk — Discovery", 2),
        (DEEZER_PLAYLIST, "playlist", "Top France", 2),
        (YANDEX_TRACK, "track", "Кино — Группа крови", 1),
        (YANDEX_ALBUM, "album", "Кино — Группа крови", 2),
        (TIDAL_TRACK, "track", "M83 — Midnight City", 1),
        (TIDAL_ALBUM, "album", "M83 — Hurry Up, We're Dreaming", 2),
    ],
)
async def test_each_service_read_from_loopback(
    make_sources: Callable[..., SourcesConfig],
    service_pages: ServicePages,
    url: str,
    kind: str,
    title: str,
    count: int,
) -> None:
    res = SourceResolver(make_sources(), max_track_seconds=3600)
    link = res.streaming_link(SourceRequest(query=url))
    assert link is not None
    listing = await res.read_link(link, SourceRequest(query=url, chat_id=-1), None)
    assert (listing.kind, listing.title, len(listing.entries)) == (kind, title, count)
    assert len(service_pages.fetched) == 1


async def test_share_links_are_followed_to_the_service_page(
    make_sources: Callable[..., SourcesConfig], service_pages: ServicePages
) -> None:
    """spotify.link redirects to an open.spotify.com link: that link's page is read (the
    redirect target itself is never fetched, only recognised); a share link leading
    elsewhere is unreadable."""
    res = SourceResolver(make_sources(), max_track_seconds=3600)
    url = "https://spotify.link/AbCdEf"
    link = res.streaming_link(SourceRequest(query=url))
    assert link is not None
    assert (link.service, link.kind) == ("Spotify", "link")
    listing = await res.read_link(link, SourceRequest(query=url), None)
    assert listing.title == "Queen — Bohemian Rhapsody"
    assert service_pages.fetched == [
        "/spotify-link/AbCdEf",
        "/spotify/embed/track/4u7EnebtmKWzUH433cf5Qv",
    ]
    elsewhere = res.streaming_link(SourceRequest(query="https://link.deezer.com/s/xyz"))
    assert elsewhere is not None
    with pytest.raises(SourceError) as err:
        await res.read_link(elsewhere, SourceRequest(query="x"), None)
    assert err.value.code == "link_unreadable"
    assert err.value.params == {"service": "Deezer"}
    assert service_pages.fetched[-1] == "/deezer-link/s/xyz"  # example.com never asked


@pytest.mark.parametrize(
    ("url", "service"),
    [
        ("https://open.spotify.com/track/0000000000changed", "Spotify"),
        ("https://music.yandex.ru/album/9999", "Yandex Music"),
    ],
)
async def test_a_page_that_changed_is_one_clear_refusal(
    make_sources: Callable[..., SourcesConfig], service_pages: ServicePages, url: str, service: str
) -> None:
    res = SourceResolver(make_sources(), max_track_seconds=3600)
    link = res.streaming_link(SourceRequest(query=url))
    assert link is not None
    before = SOURCE_FAILURES.labels(kind="streaming", reason="link_unreadable")._value.get()
    with pytest.raises(SourceError) as err:
        await res.read_link(link, SourceRequest(query=url), None)
    assert err.value.code == "link_unreadable"
    assert err.value.params == {"service": service}
    after = SOURCE_FAILURES.labels(kind="streaming", reason="link_unreadable")._value.get()
    assert after == before + 1


async def test_pages_go_through_the_guard(
    make_sources: Callable[..., SourcesConfig], service_pages: ServicePages
) -> None:
    """The page is fetched like any URL: a service "answering" from loopback is refused
    unless private networks are allowed, and nothing reaches the server."""
    res = SourceResolver(make_sources(allow_private_networks=False), max_track_seconds=3600)
    link = res.streaming_link(SourceRequest(query=SPOTIFY_TRACK))
    assert link is not None
    with pytest.raises(SourceError) as err:
        await res.read_link(link, SourceRequest(query=SPOTIFY_TRACK), None)
    assert err.value.code == "private_network"
    assert service_pages.fetched == []


async def test_a_missing_page_is_unreachable(
    make_sources: Callable[..., SourcesConfig], service_pages: ServicePages
) -> None:
    res = SourceResolver(make_sources(), max_track_seconds=3600)
    url = "https://open.spotify.com/track/1111111111111111111111"
    link = res.streaming_link(SourceRequest(query=url))
    assert link is not None
    with pytest.raises(SourceError) as err:
        await res.read_link(link, SourceRequest(query=url), None)
    assert err.value.code == "unreachable"


async def test_a_named_track_is_searched_through_ytdlp(
    make_sources: Callable[..., SourcesConfig], service_pages: ServicePages
) -> None:
    # a loaded machine: yt-dlp's first import and lookup can take more than 10 s
    res = SourceResolver(
        make_sources(ytdlp_enabled=True, probe_timeout_seconds=30), max_track_seconds=3600
    )
    track = await res.match(w("Bohemian Rhapsody", "Queen"), SourceRequest(query="x", chat_id=-1))
    assert service_pages.searches == ["Queen Bohemian Rhapsody"]
    # the generic extractor numbers a page's media elements: "... (1)"
    assert track.title.startswith("Queen Bohemian Rhapsody (Official Audio)")
    assert track.media == f"{service_pages.base}/tone.mp3"
    with pytest.raises(SourceError) as err:
        await res.match(w("Missing Song"), SourceRequest(query="x"))
    assert err.value.code == "unsupported"


async def test_a_named_track_for_vplay_is_searched_as_video_for_the_same_chat(
    make_sources: Callable[..., SourcesConfig],
) -> None:
    """/vplay of an album link: each named track is searched with the chat's quality (the
    search itself is the one /vplay words take, tested with the resolver)."""
    asked: list[SourceRequest] = []

    class Searching(SourceResolver):
        async def resolve(
            self, request: SourceRequest, progress: Progress | None = None
        ) -> Track | Playlist:
            asked.append(request)
            return Track(title="found", source=request.query, media="https://m.example/v.mp4")

    res = Searching(make_sources(), max_track_seconds=3600)
    wanted = SourceRequest(query="x", requested_by=5, video_quality="480p", chat_id=-7)
    await res.match(w("Bohemian Rhapsody", "Queen"), wanted)
    (request,) = asked
    assert (request.query, request.video_quality, request.chat_id, request.requested_by) == (
        "Queen Bohemian Rhapsody",
        "480p",
        -7,
        5,
    )
