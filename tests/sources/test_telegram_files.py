"""Telegram files through aiogram against a minimal fake Bot API (getFile and the file
download URL), pointed at with TelegramAPIServer.from_base like a custom api_base."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from bot.domain.models import SourceKind
from bot.sources.base import SourceError, TelegramMedia
from bot.sources.cache import DownloadCache
from bot.sources.telegram_files import TelegramFiles
from tests.support.audio import make_tone
from tests.support.procs import free_port

TOKEN = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@dataclass
class FakeFilesApi:
    """file_id -> (bytes on the server, the size getFile announces)."""

    files: dict[str, tuple[bytes, int | None]]
    port: int = field(default_factory=free_port)
    downloads: list[str] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(f"/bot{TOKEN}/getFile", self.get_file)
        app.router.add_get(f"/file/bot{TOKEN}/{{path:.+}}", self.download)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def get_file(self, request: web.Request) -> web.Response:
        file_id = str((await request.post())["file_id"])
        if file_id == "huge-on-telegram":
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: file is too big"},
                status=400,
            )
        if file_id not in self.files:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"},
                status=400,
            )
        _, announced = self.files[file_id]
        result: dict[str, object] = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_path": f"music/{file_id}.mp3",
        }
        if announced is not None:
            result["file_size"] = announced
        return web.json_response({"ok": True, "result": result})

    async def download(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.downloads.append(path)
        file_id = Path(path).stem
        data, _ = self.files[file_id]
        resp = web.StreamResponse()
        await resp.prepare(request)
        for start in range(0, len(data), 16 * 1024):
            await resp.write(data[start : start + 16 * 1024])
        return resp


@pytest.fixture
def payloads(tone: Path, tmp_path: Path) -> dict[str, tuple[bytes, int | None]]:
    untagged = make_tone(tmp_path / "untagged.mp3", seconds=1.0)
    return {
        "tone": (tone.read_bytes(), tone.stat().st_size),
        "untagged": (untagged.read_bytes(), untagged.stat().st_size),
        "liar": (b"\0" * (3 * 1024 * 1024), 1000),  # announces 1000 bytes, sends 3 MB
        "sizeless": (b"\0" * (3 * 1024 * 1024), None),
        "text": (b"hello, not audio\n" * 100, 1700),
    }


def read(path: str) -> bytes:
    return Path(path).read_bytes()


@pytest.fixture
async def api(payloads: dict[str, tuple[bytes, int | None]]) -> AsyncIterator[FakeFilesApi]:
    server = FakeFilesApi(files=payloads)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def bot(api: FakeFilesApi) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base))
    bot = Bot(TOKEN, session=session)
    yield bot
    await bot.session.close()


async def nothing_queued() -> set[str]:
    return set()


def files(bot: Bot, tmp_path: Path, *, max_mb: int = 1, max_seconds: int = 3600) -> TelegramFiles:
    return TelegramFiles(
        bot,
        cache=DownloadCache(
            tmp_path / "cache", max_bytes=64 * 1024 * 1024, references=nothing_queued
        ),
        max_download_mb=max_mb,
        probe_timeout=5.0,
        max_track_seconds=max_seconds,
    )


async def test_audio_downloaded_probed_and_titled(
    bot: Bot, api: FakeFilesApi, tmp_path: Path
) -> None:
    reports: list[tuple[str, float | None]] = []

    async def progress(stage: str, fraction: float | None) -> None:
        reports.append((stage, fraction))

    media = TelegramMedia("tone", "audio", file_size=None, title="Ignored", performer="X")
    track = await files(bot, tmp_path).resolve(
        media, requested_by=5, requested_by_name="Bo", progress=progress
    )
    assert track.title == "Test Tone"  # the file's own tags win
    assert track.kind is SourceKind.TELEGRAM
    assert track.source == "tg:tone"
    assert Path(track.media) == (tmp_path / "cache" / "tg-u-tone.mp3").resolve()
    assert read(track.media) == api.files["tone"][0]
    assert track.duration is not None
    assert 1.9 < track.duration < 2.2
    assert (track.requested_by, track.requested_by_name) == (5, "Bo")
    # a fast download reports its start and its end, nothing in between (throttled)
    assert reports == [("download", 0.0), ("download", 1.0), ("probe", None)]
    assert list((tmp_path / "cache").iterdir()) == [tmp_path / "cache" / "tg-u-tone.mp3"]

    # cached: played again without a second download
    await files(bot, tmp_path).resolve(media)
    assert api.downloads == ["music/tone.mp3"]


async def test_title_falls_back_to_telegram_then_file_name(bot: Bot, tmp_path: Path) -> None:
    source = files(bot, tmp_path)
    tagged = TelegramMedia("untagged", "audio", title="Song", performer="Band")
    assert (await source.resolve(tagged)).title == "Band — Song"
    named = TelegramMedia("untagged", "document", file_name="my_recording.mp3")
    assert (await source.resolve(named)).title == "my_recording"
    voice = TelegramMedia("untagged", "voice")
    assert (await source.resolve(voice)).title == "Voice message"


async def resolve_code(source: TelegramFiles, media: TelegramMedia) -> str:
    with pytest.raises(SourceError) as err:
        await source.resolve(media)
    return err.value.code


async def test_size_limit_before_download(bot: Bot, api: FakeFilesApi, tmp_path: Path) -> None:
    source = files(bot, tmp_path, max_mb=1)
    big = TelegramMedia("tone", "audio", file_size=5 * 1024 * 1024)
    assert await resolve_code(source, big) == "too_big"
    assert await resolve_code(source, TelegramMedia("huge-on-telegram", "audio")) == "too_big"
    assert api.downloads == []


async def test_size_limit_during_download(bot: Bot, api: FakeFilesApi, tmp_path: Path) -> None:
    source = files(bot, tmp_path, max_mb=1)
    assert await resolve_code(source, TelegramMedia("liar", "document")) == "too_big"
    assert await resolve_code(source, TelegramMedia("sizeless", "document")) == "too_big"
    assert api.downloads == ["music/liar.mp3", "music/sizeless.mp3"]
    assert list((tmp_path / "cache").iterdir()) == []  # no partial file left behind


async def test_not_audio_and_unknown_file(bot: Bot, tmp_path: Path) -> None:
    source = files(bot, tmp_path)
    assert await resolve_code(source, TelegramMedia("text", "document")) == "not_audio"
    assert await resolve_code(source, TelegramMedia("nope", "audio")) == "unreachable"


async def test_too_long(bot: Bot, tmp_path: Path) -> None:
    source = files(bot, tmp_path, max_seconds=1)
    assert await resolve_code(source, TelegramMedia("tone", "audio")) == "too_long"


async def test_failing_progress_callback_does_not_fail_the_download(
    bot: Bot, tmp_path: Path
) -> None:
    async def broken(stage: str, fraction: float | None) -> None:
        raise RuntimeError("message to edit was deleted")

    track = await files(bot, tmp_path).resolve(TelegramMedia("tone", "audio"), progress=broken)
    assert track.title == "Test Tone"


async def test_slow_progress_is_reported_as_fractions(
    bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.sources import telegram_files

    monkeypatch.setattr(telegram_files, "PROGRESS_INTERVAL", 0.0)
    reports: list[tuple[str, float | None]] = []

    async def progress(stage: str, fraction: float | None) -> None:
        reports.append((stage, fraction))

    await files(bot, tmp_path).resolve(TelegramMedia("tone", "audio"), progress=progress)
    fractions = [f for stage, f in reports if stage == "download"]
    assert fractions[0] == 0.0
    assert fractions[-1] == 1.0
    assert len(fractions) >= 3
    # sorted, and no None among them (the size is known)
    assert fractions == sorted(f for f in fractions if f is not None)
