"""Links to streaming services that yt-dlp cannot play (Spotify, Apple Music, Deezer, Yandex
Music, Tidal): the page says which tracks it means, and each is then searched through yt-dlp.

No API keys and no accounts: only the page a browser or a link preview would get, fetched
through the same guard as every URL (``bot.sources.http.follow``: each redirect checked,
the connection pinned to the checked addresses, the body bounded by ``MAX_PAGE_BYTES``).
A page that does not show what it plays (it changed shape, or answered with a captcha) is
``link_unreadable``, naming the service.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from bot.sources import http
from bot.sources.base import SourceError
from bot.sources.page_meta import (
    Listing,
    Unreadable,
    deezer_listing,
    jsonld_listing,
    opengraph_track,
    spotify_listing,
)

#: page URL prefix -> replacement: a seam for tests, which serve saved pages from loopback
ORIGIN_OVERRIDES: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class ServiceLink:
    service: str  # the name the chat reads
    kind: str  # track | album | playlist
    page: str  # what is fetched
    parse: Callable[[str], Listing]


def _jsonld_or_opengraph(kind: str) -> Callable[[str], Listing]:
    def parse(html: str) -> Listing:
        try:
            return jsonld_listing(html)
        except Unreadable:
            if kind != "track":
                raise
            return opengraph_track(html)

    return parse


def _apple_track(track_id: str) -> Callable[[str], Listing]:
    def parse(html: str) -> Listing:
        return jsonld_listing(html, track_id=track_id)

    return parse


_SPOTIFY = re.compile(
    r"^/(?:intl-[a-z]{2}(?:-[a-z]{2})?/)?(?:embed/)?(track|album|playlist)/([A-Za-z0-9]{10,40})/?$"
)
_APPLE = re.compile(r"^/[a-z]{2}/(album|song|playlist)/(?:[^/]+/)?([A-Za-z0-9.\-]+)/?$")
_DEEZER = re.compile(r"^/(?:[a-z]{2}(?:-[a-z]{2})?/)?(track|album|playlist)/(\d+)/?$")
_YANDEX = re.compile(
    r"^/(?:album/(\d+)/track/(\d+)|album/(\d+)|track/(\d+)|users/([^/]+)/playlists/(\d+))/?$"
)
_TIDAL = re.compile(r"^/(?:browse/)?(track|album|playlist)/([A-Za-z0-9\-]+)/?$")
_YANDEX_HOSTS = re.compile(r"^music\.yandex\.(ru|com|by|kz|uz)$")
#: share links that redirect to a service's page: followed (guarded) until they name one
SHORT_HOSTS = {
    "spotify.link": "Spotify",
    "deezer.page.link": "Deezer",
    "link.deezer.com": "Deezer",
}


def _short_link(html: str) -> Listing:
    raise Unreadable("a share link that led to no service page")


def recognise(url: str) -> ServiceLink | None:
    """The service link ``url`` is, or None (then it is an ordinary URL)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    host = (parts.hostname or "").lower().removeprefix("www.")
    path = parts.path
    if host in SHORT_HOSTS and path.strip("/"):
        return ServiceLink(SHORT_HOSTS[host], "link", url, _short_link)
    if host == "open.spotify.com" and (m := _SPOTIFY.match(path)):
        kind, ident = m.groups()
        page = f"https://open.spotify.com/embed/{kind}/{ident}"
        return ServiceLink("Spotify", kind, page, spotify_listing)
    if host in ("music.apple.com", "itunes.apple.com") and (m := _APPLE.match(path)):
        kind, _ = m.groups()
        page = f"https://music.apple.com{path}"
        track = parse_qs(parts.query).get("i", [""])[0]
        if kind == "album" and track.isdigit():
            return ServiceLink("Apple Music", "track", page, _apple_track(track))
        kind = "track" if kind == "song" else kind
        return ServiceLink("Apple Music", kind, page, _jsonld_or_opengraph(kind))
    if host == "deezer.com" and (m := _DEEZER.match(path)):
        kind, ident = m.groups()
        page = f"https://www.deezer.com/en/{kind}/{ident}"
        return ServiceLink("Deezer", kind, page, deezer_listing)
    if _YANDEX_HOSTS.match(host) and (m := _YANDEX.match(path)):
        kind = "album" if m.group(3) else "playlist" if m.group(5) else "track"
        page = f"https://{host}{path}"
        return ServiceLink("Yandex Music", kind, page, _jsonld_or_opengraph(kind))
    if host in ("tidal.com", "listen.tidal.com") and (m := _TIDAL.match(path)):
        kind, ident = m.groups()
        page = f"https://tidal.com/browse/{kind}/{ident}"
        return ServiceLink("Tidal", kind, page, _jsonld_or_opengraph(kind))
    return None


def _leaves_the_share_link(url: str) -> bool:
    """A redirect of a share link is followed only to another share link: a service page
    is read by its own reader, and anything else is not fetched at all."""
    found = recognise(url)
    return found is None or found.kind != "link"


def _fetched_url(page: str) -> str:
    for prefix, replacement in ORIGIN_OVERRIDES.items():
        if page.startswith(prefix):
            return replacement + page[len(prefix) :]
    return page


async def read(link: ServiceLink, *, allow_private: bool, timeout: float) -> Listing:
    """The link's page, fetched and read; SourceError when it cannot be."""
    if link.kind == "link":  # a share link: where it redirects is the real link
        hop = await http.follow(
            _fetched_url(link.page),
            allow_private=allow_private,
            timeout=timeout,
            stop=_leaves_the_share_link,
        )
        target = recognise(hop.url)
        if target is None or target.kind == "link":
            raise SourceError("link_unreadable", "no service page", service=link.service)
        link = target
    final = await http.follow(
        _fetched_url(link.page),
        allow_private=allow_private,
        timeout=timeout,
        read=http.MAX_PAGE_BYTES,
    )
    try:
        return link.parse(final.body.decode("utf-8", errors="replace"))
    except Unreadable as exc:
        raise SourceError("link_unreadable", str(exc), service=link.service) from None
