"""Library lookups on a real folder tree, including escape attempts."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import SourcesConfig
from bot.domain.models import SourceKind, Track
from bot.sources.base import SourceError, SourceRequest
from bot.sources.library import Library
from bot.sources.resolver import SourceResolver
from tests.support.audio import make_tone


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("library")
    outside = tmp_path_factory.mktemp("outside")
    (root / "Chill").mkdir()
    (root / "Rock").mkdir()
    make_tone(root / "Chill" / "Moonlight_Sonata.mp3", seconds=0.5, title="Moonlight Sonata")
    make_tone(root / "Chill" / "Rain Sounds.mp3", seconds=0.5, title="Rain")
    make_tone(root / "Rock" / "Thunder.mp3", seconds=0.5, title="Thunder")
    (root / "Rock" / "cover.jpg").write_bytes(b"\xff\xd8not really")
    secret = make_tone(outside / "secret.mp3", seconds=0.5, title="Secret")
    os.symlink(secret, root / "Chill" / "escape.mp3")
    os.symlink(outside, root / "outside-dir")
    return root


def real(path: Path) -> str:
    return str(path.resolve())


def test_fuzzy_and_exact_names(library: Path) -> None:
    lib = Library(str(library))
    assert lib.find("Chill/Moonlight_Sonata.mp3").relative == "Chill/Moonlight_Sonata.mp3"
    assert lib.find("moonlight sonata").relative == "Chill/Moonlight_Sonata.mp3"
    assert lib.find("moonlite sonata").relative == "Chill/Moonlight_Sonata.mp3"
    assert lib.find("thunder").relative == "Rock/Thunder.mp3"
    assert lib.find("rain").relative == "Chill/Rain Sounds.mp3"


@pytest.mark.parametrize(
    "name",
    ["../outside/secret", "escape", "secret", "/etc/passwd", "outside-dir/secret", "cover"],
)
def test_nothing_outside_is_found(library: Path, name: str) -> None:
    with pytest.raises(SourceError) as err:
        Library(str(library)).find(name)
    assert err.value.code == "not_found"


def test_index_holds_only_audio_inside(library: Path) -> None:
    relatives = [e.relative for e in Library(str(library)).entries()]
    assert relatives == [
        "Chill/Moonlight_Sonata.mp3", "Chill/Rain Sounds.mp3", "Rock/Thunder.mp3"
    ]  # fmt: skip


def test_folders(library: Path) -> None:
    lib = Library(str(library))
    chill = lib.folder("Chill")
    assert chill is not None
    assert [e.relative for e in chill] == ["Chill/Moonlight_Sonata.mp3", "Chill/Rain Sounds.mp3"]
    assert lib.folder("outside-dir") is None
    assert lib.folder("../") is None
    assert lib.folder("Nope") is None


def test_no_library_configured() -> None:
    with pytest.raises(SourceError) as err:
        Library("").find("x")
    assert err.value.code == "unavailable"


async def test_resolver_library_routes(
    library: Path, make_sources: Callable[..., SourcesConfig]
) -> None:
    res = SourceResolver(make_sources(library_dir=str(library)), max_track_seconds=60)
    track = await res.resolve(SourceRequest(query="lib:moonlight", requested_by=3))
    assert isinstance(track, Track)
    assert track.title == "Moonlight Sonata"
    assert track.kind is SourceKind.LIBRARY
    assert track.source == "lib:Chill/Moonlight_Sonata.mp3"
    assert track.media == real(library / "Chill" / "Moonlight_Sonata.mp3")
    assert track.requested_by == 3
    # plain words that clearly name a file play it from the library (yt-dlp is off here)
    assert (await res.resolve(SourceRequest(query="Thunder"))).title == "Thunder"
    with pytest.raises(SourceError) as err:
        await res.resolve(SourceRequest(query="lib:../outside/secret"))
    assert err.value.code == "not_found"

    tracks = await res.expand("lib:Chill")
    assert [t.title for t in tracks] == ["Moonlight Sonata", "Rain"]
    assert {t.kind for t in tracks} == {SourceKind.PLAYLIST}
    assert [t.title for t in await res.expand("Rock")] == ["Thunder"]
    assert [t.title for t in await res.expand("lib:rain sounds")] == ["Rain"]
