"""What a streaming service's public page says it plays: the page's own metadata, read the
way the services publish it for link previews and search engines.

- schema.org JSON-LD (``<script type="application/ld+json">``): ``MusicRecording``,
  ``MusicAlbum`` and ``MusicPlaylist`` with their tracks (Apple Music, Yandex Music, Tidal);
- the JSON a page embeds for its own player: Spotify's embed page (``__NEXT_DATA__``:
  ``props.pageProps.state.data.entity``), Deezer's ``window.__DZR_APP_STATE__``;
- Open Graph (``og:title``, ``og:description``, ``music:musician``) for a single track when
  nothing richer is there.

Every parser returns a ``Listing`` or raises ``Unreadable``: a page that changed shape is one
clear refusal, never a KeyError.  Nothing here fetches anything.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Unreadable(Exception):
    """The page does not hold what this parser looks for (it changed, or is a captcha)."""


@dataclass(frozen=True, slots=True)
class Wanted:
    """One track a link names: searched for by artists and title."""

    title: str
    artists: tuple[str, ...] = ()
    duration: float | None = None

    def label(self) -> str:
        return f"{', '.join(self.artists)} — {self.title}" if self.artists else self.title

    def query(self) -> str:
        return f"{' '.join(self.artists)} {self.title}".strip()


@dataclass(frozen=True, slots=True)
class Listing:
    """What a link names: one track, or an album's or playlist's tracks in order."""

    kind: str  # track | album | playlist
    title: str
    entries: tuple[Wanted, ...]


class _Page(HTMLParser):
    """The parts of a page the parsers read: meta tags, scripts (with their attributes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.scripts: list[tuple[dict[str, str], str]] = []
        self._script: dict[str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if tag == "meta":
            key = values.get("property") or values.get("name") or values.get("itemprop")
            if key and "content" in values:
                self.meta.setdefault(key.lower(), values["content"])
        elif tag == "script":
            self._script, self._text = values, []

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None


def parse_page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


_ISO_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def iso_duration(value: Any) -> float | None:
    """``PT3M21S`` (schema.org's duration) in seconds; None for anything else."""
    if not isinstance(value, str):
        return None
    match = _ISO_DURATION.match(value.strip())
    if match is None or not any(match.groupdict().values()):
        return None
    d, h, m, s = (float(match.group(k) or 0) for k in ("d", "h", "m", "s"))
    return ((d * 24 + h) * 60 + m) * 60 + s


def _text(value: Any) -> str:
    return unescape(value).strip() if isinstance(value, str) else ""


def _names(value: Any) -> tuple[str, ...]:
    """Artist names from a schema.org ``byArtist`` or a list of ``{"name": ...}``."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = _text(item.get("name")) if isinstance(item, dict) else _text(item)
        if name:
            names.append(name)
    return tuple(names)


def _wanted(title: Any, artists: tuple[str, ...], duration: float | None) -> Wanted:
    name = _text(title)
    if not name:
        raise Unreadable("a track without a title")
    return Wanted(name, artists, duration)


# -- schema.org JSON-LD ------------------------------------------------------------------------

_MUSIC_TYPES = ("MusicRecording", "MusicAlbum", "MusicPlaylist")


def _ld_items(page: _Page) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for attrs, text in page.scripts:
        if attrs.get("type", "").lower() != "application/ld+json":
            continue
        try:
            data = json.loads(text)
        except ValueError:
            continue
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict):
                graph = item.get("@graph")
                if isinstance(graph, list):
                    items.extend(g for g in graph if isinstance(g, dict))
                else:
                    items.append(item)
    return items


def _ld_type(item: dict[str, Any]) -> str:
    kind = item.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return next((k for k in kinds if k in _MUSIC_TYPES), "")


def _ld_entries(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The recordings of an album or playlist: a list, or an ``ItemList`` of them."""
    raw = item.get("track", item.get("tracks"))
    if isinstance(raw, dict):  # an ItemList: {"itemListElement": [{"item": {...}}]}
        elements = raw.get("itemListElement")
        raw = [e.get("item", e) for e in elements or [] if isinstance(e, dict)]
    if not isinstance(raw, list):
        raise Unreadable("no track list")
    entries = [e for e in raw if isinstance(e, dict)]
    if not entries:
        raise Unreadable("an empty track list")
    return entries


def _ld_track(entry: dict[str, Any], fallback_artists: tuple[str, ...]) -> Wanted:
    artists = _names(entry.get("byArtist")) or fallback_artists
    return _wanted(entry.get("name"), artists, iso_duration(entry.get("duration")))


def jsonld_listing(html: str, *, track_id: str | None = None) -> Listing:
    """The first schema.org music item of the page.  ``track_id``: the album page was
    linked for one of its tracks (Apple Music's ``?i=<id>``): that track alone."""
    for item in _ld_items(parse_page(html)):
        kind = _ld_type(item)
        if not kind:
            continue
        artists = _names(item.get("byArtist"))
        if kind == "MusicRecording":
            track = _wanted(item.get("name"), artists, iso_duration(item.get("duration")))
            return Listing("track", track.label(), (track,))
        entries = _ld_entries(item)
        if track_id is not None:
            for entry in entries:
                if parse_qs(urlsplit(str(entry.get("url", ""))).query).get("i") == [track_id]:
                    track = _ld_track(entry, artists)
                    return Listing("track", track.label(), (track,))
            raise Unreadable("the linked track is not on the page")
        tracks = tuple(_ld_track(entry, artists) for entry in entries)
        title = _text(item.get("name"))
        label = f"{', '.join(artists)} — {title}" if artists and title else title
        return Listing("album" if kind == "MusicAlbum" else "playlist", label, tracks)
    raise Unreadable("no schema.org music item")


# -- Open Graph ---------------------------------------------------------------------------------

_BY = re.compile(r"^(?P<title>.+?)\s+(?:by|-|—|·)\s+(?P<artist>.+?)(?:\s+on\s+\S.*)?$")


def opengraph_track(html: str) -> Listing:
    """One track from ``og:title`` and its artist (``music:musician``, or "X by Y")."""
    meta = parse_page(html).meta
    title = _text(meta.get("og:title"))
    if not title:
        raise Unreadable("no og:title")
    artists = _names(meta.get("music:musician_description") or meta.get("music:musician"))
    if not artists or artists[0].startswith("http"):
        match = _BY.match(title)
        if match is None:
            raise Unreadable("og:title names no artist")
        title, artists = match.group("title"), (match.group("artist"),)
    track = Wanted(title, artists, None)
    return Listing("track", track.label(), (track,))


# -- Spotify's embed page -----------------------------------------------------------------------


def spotify_listing(html: str) -> Listing:
    """``open.spotify.com/embed/<kind>/<id>``: the player's ``__NEXT_DATA__`` entity."""
    scripts = [
        text for attrs, text in parse_page(html).scripts if attrs.get("id") == "__NEXT_DATA__"
    ]
    if not scripts:
        raise Unreadable("no __NEXT_DATA__")
    text = scripts[0]
    try:
        entity = json.loads(text)["props"]["pageProps"]["state"]["data"]["entity"]
        kind = str(entity["type"])
        name = entity.get("name") or entity.get("title")
        artists = _names(entity.get("artists") or [])
        if kind == "track":
            duration = entity.get("duration")
            seconds = duration / 1000 if isinstance(duration, int | float) else None
            track = _wanted(name, artists, seconds)
            return Listing("track", track.label(), (track,))
        entries = []
        for item in entity["trackList"]:
            subtitle = _text(item.get("subtitle"))
            by = tuple(a.strip() for a in subtitle.split(",") if a.strip()) or artists
            ms = item.get("duration")
            entries.append(
                _wanted(item.get("title"), by, ms / 1000 if isinstance(ms, int | float) else None)
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise Unreadable(f"the embed data changed: {exc.__class__.__name__}") from None
    if kind not in ("album", "playlist") or not entries:
        raise Unreadable(f"an embed of {kind!r} without tracks")
    title = _text(name)
    label = f"{', '.join(artists)} — {title}" if artists and kind == "album" else title
    return Listing(kind, label, tuple(entries))


# -- Deezer -------------------------------------------------------------------------------------

_DZR_STATE = re.compile(r"window\.__DZR_APP_STATE__\s*=\s*")


def _deezer_song(song: dict[str, Any]) -> Wanted:
    listed = song.get("ARTISTS")
    artists = tuple(
        name
        for a in (listed if isinstance(listed, list) else [])
        if isinstance(a, dict) and (name := _text(a.get("ART_NAME")))
    ) or _names(song.get("ART_NAME"))
    raw = song.get("DURATION")
    duration = float(raw) if isinstance(raw, int | float | str) and str(raw).isdigit() else None
    title = _text(song.get("SNG_TITLE"))
    version = _text(song.get("VERSION"))
    return _wanted(f"{title} {version}".strip() if version else title, artists, duration)


def deezer_listing(html: str) -> Listing:
    """``window.__DZR_APP_STATE__``: ``DATA`` (the track, album or playlist) and, for the
    last two, ``SONGS.data``."""
    match = _DZR_STATE.search(html)
    if match is None:
        raise Unreadable("no __DZR_APP_STATE__")
    try:
        state, _ = json.JSONDecoder().raw_decode(html, match.end())
        data = state["DATA"]
        kind = str(data["__TYPE__"])
        if kind == "song":
            track = _deezer_song(data)
            return Listing("track", track.label(), (track,))
        songs = [_deezer_song(s) for s in state["SONGS"]["data"]]
        if kind == "album":
            title = f"{_text(data.get('ART_NAME'))} — {_text(data['ALB_TITLE'])}".strip(" —")
        else:
            title = _text(data["TITLE"])
    except (KeyError, TypeError, ValueError) as exc:
        raise Unreadable(f"the app state changed: {exc.__class__.__name__}") from None
    if kind not in ("album", "playlist") or not songs:
        raise Unreadable(f"a {kind!r} without songs")
    return Listing(kind, title, tuple(songs))
