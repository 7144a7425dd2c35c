"""YouTube cookies (``sources.ytdlp_cookies``): which file each lookup gets, which are set
aside and why, the "not a bot" failure as its own refusal, and real yt-dlp runs that send
the chosen file's cookies (seen by the loopback server)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yt_dlp

from bot.checks import check_cookies
from bot.config import SourcesConfig, settings_from_mapping
from bot.domain.models import Track
from bot.metrics import SOURCE_FAILURES, YTDLP_BOT_CHECKS, YTDLP_COOKIE_FILES
from bot.sources import ytdlp
from bot.sources.base import SourceError, SourceRequest
from bot.sources.cookies import SET_ASIDE_AFTER, CookieJars, cookie_state_file, cookie_verdict
from bot.sources.resolver import SourceResolver
from tests.support.media_server import MediaServer

HEADER = "# Netscape HTTP Cookie File\n"


def youtube_bot_check(video_id: str = "dQw4w9WgXcQ") -> str:
    """The error yt-dlp raises for YouTube's bot check, built the way yt-dlp builds it:
    the playability reason, then the YouTube extractor's own login hint."""
    from yt_dlp.extractor.youtube import YoutubeIE

    with yt_dlp.YoutubeDL({"quiet": True}) as ydl:
        hint = YoutubeIE(ydl)._youtube_login_hint
    return f"ERROR: [youtube] {video_id}: Sign in to confirm you\u2019re not a bot. {hint}"


def cookie_file(path: Path, value: str, domain: str = ".youtube.com") -> Path:
    flag = "TRUE" if domain.startswith(".") else "FALSE"
    path.write_text(f"{HEADER}{domain}\t{flag}\t/\tFALSE\t0\tSID\t{value}\n")
    return path


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    jar = tmp_path / "cookies"
    jar.mkdir()
    for name in ("a", "b", "c"):
        cookie_file(jar / f"{name}.txt", name)
    return jar


def names(jars: CookieJars, n: int) -> list[str]:
    picks = [jars.choose() for _ in range(n)]
    return [p.name if p is not None else "-" for p in picks]


def test_files_take_turns_and_a_failed_one_waits(folder: Path) -> None:
    jars = CookieJars(str(folder), clock=Clock())
    assert names(jars, 4) == ["a.txt", "b.txt", "c.txt", "a.txt"]
    jars.bot_check(folder / "b.txt")
    # b failed: the two that never failed take turns without it
    assert names(jars, 3) == ["c.txt", "a.txt", "c.txt"]
    jars.bot_check(folder / "a.txt")
    jars.bot_check(folder / "c.txt")
    # now b failed least recently: it comes first, then a (c failed last)
    assert names(jars, 2) == ["b.txt", "b.txt"]


def test_three_bot_checks_in_a_row_set_a_file_aside(folder: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    jars = CookieJars(str(folder), clock=Clock(), state_file=state)
    target = folder / "a.txt"
    for _ in range(SET_ASIDE_AFTER - 1):
        jars.bot_check(target)
    jars.succeeded(target)  # a success in between: the count starts again
    for _ in range(SET_ASIDE_AFTER - 1):
        jars.bot_check(target)
    assert all(s.usable for s in jars.status())
    jars.bot_check(target)
    [aside] = [s for s in jars.status() if not s.usable]
    assert aside.name == "a.txt"
    assert "not a bot" in aside.reason
    assert "a.txt" not in names(jars, 6)
    assert YTDLP_COOKIE_FILES.labels(state="set_aside")._value.get() == 1
    assert YTDLP_COOKIE_FILES.labels(state="usable")._value.get() == 2
    # a restart keeps it aside; exporting the file again brings it back
    again = CookieJars(str(folder), clock=Clock(), state_file=state)
    assert [s.name for s in again.status() if not s.usable] == ["a.txt"]
    cookie_file(target, "fresh")
    os.utime(target, ns=(1, 10**18))
    assert all(s.usable for s in again.status())
    assert "a.txt" in names(again, 3)


def test_a_file_that_is_not_cookies_is_set_aside(folder: Path) -> None:
    (folder / "notes.txt").write_text("my passwords\n")
    (folder / "empty.txt").write_text(HEADER)
    jars = CookieJars(str(folder), clock=Clock())
    report = {r["name"]: r for r in jars.report()}
    assert not report["notes.txt"]["usable"]
    assert "Netscape" in report["notes.txt"]["reason"]
    assert report["empty.txt"]["reason"] == "holds no cookie lines"
    assert set(names(jars, 6)) == {"a.txt", "b.txt", "c.txt"}


def test_no_cookies_configured() -> None:
    jars = CookieJars("")
    assert jars.choose() is None
    assert jars.status() == []


def test_check_reports_set_aside_files(folder: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    assert cookie_verdict(str(folder), state) == (True, "3 of 3 cookie file(s) usable")
    CookieJars(str(folder), state_file=state).reject(folder / "c.txt", "rotated")
    ok, detail = cookie_verdict(str(folder), state)
    assert not ok
    assert detail == "2 of 3 cookie file(s) usable; c.txt: set aside: rotated"
    assert cookie_verdict("", state)[0]
    assert cookie_verdict(str(tmp_path / "nowhere"), state) == (
        False,
        f"{tmp_path / 'nowhere'} does not exist",
    )


async def test_python_m_bot_check_line(folder: Path, tmp_path: Path) -> None:
    settings = settings_from_mapping(
        {
            "telegram": {"bot_token": "123456:ABCdefGHIjklMNOpqrsTUVwxyz012345678"},
            "engine": {"kind": "local"},
            "web": {"enabled": False},
            "sources": {"ytdlp_cookies": str(folder), "cache_dir": str(tmp_path / "cache")},
        }
    )
    CookieJars(str(folder), state_file=cookie_state_file(settings.sources)).reject(
        folder / "b.txt", "YouTube says its account cookies are no longer valid"
    )
    result = await check_cookies(settings)
    assert result.line() == (
        "FAIL yt-dlp cookies: 2 of 3 cookie file(s) usable; "
        "b.txt: set aside: YouTube says its account cookies are no longer valid"
    )


# -- the "not a bot" answer ------------------------------------------------------------------


def test_bot_check_is_its_own_refusal() -> None:
    assert ytdlp._map_error(youtube_bot_check()).code == "bot_check"
    assert ytdlp._map_error(youtube_bot_check().replace("\u2019", "'")).code == "bot_check"
    age = "ERROR: [youtube] x: Sign in to confirm your age. This video may be inappropriate"
    assert ytdlp._map_error(age).code == "unavailable"
    assert ytdlp._map_error("ERROR: [youtube] x: Video unavailable").code == "unavailable"


@pytest.fixture
def youtube_answers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What "YouTube" answers each lookup: an exception to raise, a warning text to log
    (then a result), or a result.  Only extract_info is replaced: YoutubeDL itself, its
    options, its cookie jar and its logger are yt-dlp's own."""
    script: list[Any] = []
    seen: list[str] = []

    def extract_info(self: Any, url: str, download: bool = True, **kw: Any) -> Any:
        seen.append("; ".join(f"{c.name}={c.value}" for c in self.cookiejar))
        answer = script.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, str):
            self.report_warning(answer)
            return {"id": "x", "title": "t", "url": "https://cdn.example/a.m4a"}
        return answer

    monkeypatch.setattr(yt_dlp.YoutubeDL, "extract_info", extract_info)
    script.append(seen)  # the first item: where the cookies sent are collected
    return script


def test_bot_check_with_cookies_counts_against_the_file(
    folder: Path, youtube_answers: list[Any]
) -> None:
    seen: list[str] = youtube_answers.pop(0)
    jars = CookieJars(str(folder / "a.txt"))
    before = YTDLP_BOT_CHECKS.labels(cookies="file")._value.get()
    for _ in range(SET_ASIDE_AFTER):
        youtube_answers.append(yt_dlp.utils.DownloadError(youtube_bot_check()))
        with pytest.raises(SourceError) as err:
            ytdlp._extract("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
        assert err.value.code == "bot_check"
    assert seen == [""] * SET_ASIDE_AFTER  # no jar given: no cookies were sent
    seen.clear()
    for _ in range(SET_ASIDE_AFTER):
        youtube_answers.append(yt_dlp.utils.DownloadError(youtube_bot_check()))
        with pytest.raises(SourceError):
            ytdlp._extract("https://www.youtube.com/watch?v=x", jars)
    assert seen == ["SID=a"] * SET_ASIDE_AFTER
    assert YTDLP_BOT_CHECKS.labels(cookies="file")._value.get() == before + SET_ASIDE_AFTER
    assert [s.usable for s in jars.status()] == [False]
    assert jars.choose() is None


def test_rotated_cookies_are_set_aside_at_once(folder: Path, youtube_answers: list[Any]) -> None:
    seen: list[str] = youtube_answers.pop(0)
    jars = CookieJars(str(folder), clock=Clock())
    youtube_answers.append(
        "The provided YouTube account cookies are no longer valid. They have likely been "
        "rotated in the browser as a security measure."
    )
    info = ytdlp._extract("https://www.youtube.com/watch?v=x", jars)
    assert info["title"] == "t"  # the lookup itself went through
    assert seen == ["SID=a"]
    assert [s.name for s in jars.status() if not s.usable] == ["a.txt"]
    youtube_answers.extend([{"id": "y", "title": "u", "url": "https://cdn.example/b.m4a"}] * 2)
    ytdlp._extract("https://www.youtube.com/watch?v=y", jars)
    ytdlp._extract("https://www.youtube.com/watch?v=y", jars)
    assert seen == ["SID=a", "SID=b", "SID=c"]


async def test_the_resolver_answers_bot_check_and_counts_it(
    make_sources: Callable[..., SourcesConfig], youtube_answers: list[Any]
) -> None:
    youtube_answers.pop(0)
    youtube_answers.append(yt_dlp.utils.DownloadError(youtube_bot_check()))
    res = SourceResolver(make_sources(ytdlp_enabled=True), max_track_seconds=3600)
    before = SOURCE_FAILURES.labels(kind="search", reason="bot_check")._value.get()
    with pytest.raises(SourceError) as err:
        await res.resolve(SourceRequest(query="some song"))
    assert err.value.code == "bot_check"
    assert SOURCE_FAILURES.labels(kind="search", reason="bot_check")._value.get() == before + 1


# -- real yt-dlp runs: the chosen file's cookies reach the server ---------------------------


async def test_real_lookups_send_the_chosen_files_cookies(
    make_sources: Callable[..., SourcesConfig], media_server: MediaServer, tmp_path: Path
) -> None:
    """yt-dlp's generic extractor fetches a loopback URL; the server sees each lookup's
    cookie file in turn, and the operator's files are never written back."""
    jar = tmp_path / "jar"
    jar.mkdir()
    host = media_server.host
    files = [cookie_file(jar / f"{n}.txt", f"account-{n}", domain=host) for n in ("one", "two")]
    before = [f.read_bytes() for f in files]
    res = SourceResolver(
        make_sources(ytdlp_enabled=True, ytdlp_cookies=str(jar), probe_timeout_seconds=30),
        max_track_seconds=3600,
    )
    for _ in range(3):
        media_server.cookies.clear()
        track = await res.resolve(SourceRequest(query=media_server.url("/player.html")))
        assert isinstance(track, Track)
        assert track.media == media_server.url("/files/tone.mp3")
        # the bot's own look at the page sends none; every request of yt-dlp's sends one file's
        own, *from_ytdlp = media_server.cookies
        assert own == ""
        assert len(from_ytdlp) >= 1
        assert len(set(from_ytdlp)) == 1
        assert from_ytdlp[0].startswith("SID=")
    sent = []
    for _ in range(2):
        media_server.cookies.clear()
        await res.resolve(SourceRequest(query=media_server.url("/player.html")))
        sent.append(media_server.cookies[1])
    assert sorted(sent) == ["SID=account-one", "SID=account-two"]
    assert [f.read_bytes() for f in files] == before
