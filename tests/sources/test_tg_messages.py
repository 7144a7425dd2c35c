"""Files the Bot API will not serve (over 20 MB) and t.me message links, read by an
assistant account: the link syntax, the download through a reader (the local engine's
folder-backed virtual account), which account is asked, every refusal, and the kurigram
reader's handling of kurigram's own errors and messages."""

from __future__ import annotations

import shutil
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from pyrogram import errors

from bot.config import SourcesConfig
from bot.domain.models import SourceKind
from bot.engines.folder_messages import FolderMessages
from bot.engines.local import LocalEngine
from bot.engines.pool import AssistantPool
from bot.engines.tg_reader import KurigramMessages
from bot.sources.base import SourceError, SourceRequest, TelegramMedia
from bot.sources.cache import DownloadCache
from bot.sources.resolver import SourceResolver
from bot.sources.telegram_files import TelegramFiles
from bot.sources.tg_messages import (
    CannotSee,
    MessageReader,
    MessageRef,
    NoMedia,
    RemoteFile,
    parse_message_link,
)
from tests.sources.test_telegram_files import TOKEN, FakeFilesApi, nothing_queued

CHAT = -1001234567890


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("https://t.me/somechannel/42", MessageRef("somechannel", 42)),
        ("t.me/somechannel/42", MessageRef("somechannel", 42)),
        ("https://t.me/somechannel/42?single", MessageRef("somechannel", 42)),
        ("https://telegram.me/some_group/7/42", MessageRef("some_group", 42)),  # a topic
        ("https://t.me/c/1234567890/42", MessageRef(CHAT, 42)),
        ("https://t.me/c/1234567890/3/42/", MessageRef(CHAT, 42)),
        ("https://t.me/somechannel", None),
        ("https://t.me/joinchat/42", None),
        ("https://t.me/c/1234567890/0", None),
        ("https://t.me/x/42", None),  # too short to be a public name
        ("https://t.me.evil.example/somechannel/42", None),
        ("https://example.com/somechannel/42", None),
        ("somechannel/42", None),
    ],
)
def test_message_links(text: str, ref: MessageRef | None) -> None:
    assert parse_message_link(text) == ref


def test_links_round_trip() -> None:
    for ref in (MessageRef(CHAT, 5), MessageRef("somechannel", 6)):
        assert parse_message_link(ref.link()) == ref


@pytest.fixture
def seen(tmp_path: Path, tone: Path, text_file: Path) -> Path:
    """What a virtual account sees: two messages of CHAT and one of a public channel."""
    folder = tmp_path / "seen"
    (folder / str(CHAT)).mkdir(parents=True)
    (folder / "somechannel").mkdir()
    shutil.copy(tone, folder / str(CHAT) / "5.mp3")
    shutil.copy(text_file, folder / str(CHAT) / "6.txt")
    shutil.copy(tone, folder / "somechannel" / "42.mp3")
    return folder


@pytest.fixture
def tone_payload(tone: Path) -> dict[str, tuple[bytes, int | None]]:
    return {"tone": (tone.read_bytes(), tone.stat().st_size)}


@pytest.fixture
async def api(tone_payload: dict[str, tuple[bytes, int | None]]) -> AsyncIterator[FakeFilesApi]:
    server = FakeFilesApi(files=tone_payload)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def bot(api: FakeFilesApi) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base)))
    yield bot
    await bot.session.close()


def files(
    bot: Bot, tmp_path: Path, readers: list[MessageReader] | None, *, max_mb: int = 5
) -> TelegramFiles:
    asked: list[int | None] = []

    def readers_for(chat_id: int | None) -> list[MessageReader]:
        asked.append(chat_id)
        return list(readers or [])

    source = TelegramFiles(
        bot,
        cache=DownloadCache(tmp_path / "cache", max_bytes=64 << 20, references=nothing_queued),
        max_download_mb=max_mb,
        probe_timeout=5.0,
        max_track_seconds=3600,
        readers=None if readers is None else readers_for,
    )
    source.asked = asked  # type: ignore[attr-defined]
    return source


def same_bytes(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


async def code_of(coro: Any) -> str:
    with pytest.raises(SourceError) as err:
        await coro
    return str(err.value.code)


async def test_a_file_too_big_for_the_bot_api_is_read_by_an_assistant(
    bot: Bot, api: FakeFilesApi, tmp_path: Path, seen: Path
) -> None:
    reports: list[tuple[str, float | None]] = []

    async def progress(stage: str, fraction: float | None) -> None:
        reports.append((stage, fraction))

    source = files(bot, tmp_path, [FolderMessages(seen, name="a1")])
    media = TelegramMedia(
        "huge-on-telegram", "audio", file_name="big.mp3", message=MessageRef(CHAT, 5)
    )
    track = await source.resolve(media, requested_by=7, progress=progress)
    assert track.title == "Test Tone"  # from the file's own tags
    assert track.kind is SourceKind.TELEGRAM
    assert track.source == "tg:huge-on-telegram"
    assert same_bytes(Path(track.media), seen / str(CHAT) / "5.mp3")
    assert Path(track.media).name.startswith("tg-v")  # a cache file, swept like the others
    assert reports[0] == ("download", 0.0)
    assert ("download", 1.0) in reports
    assert reports[-1] == ("probe", None)
    assert source.asked == [CHAT]  # type: ignore[attr-defined]
    assert api.downloads == []  # the Bot API was asked (getFile) and refused; nothing else
    # the same message again: the cached file, no second download
    again = await source.resolve(media)
    assert again.media == track.media


async def test_refusals(bot: Bot, tmp_path: Path, seen: Path) -> None:
    big = TelegramMedia("huge-on-telegram", "audio", message=MessageRef(CHAT, 5))
    # no readers at all (the bot was built without an engine that reads): as before
    assert await code_of(files(bot, tmp_path, None).resolve(big)) == "too_big"
    # an engine that reads, but no account running
    assert await code_of(files(bot, tmp_path, []).resolve(big)) == "no_reader"
    reader = FolderMessages(seen, name="a1")
    source = files(bot, tmp_path, [reader])
    unseen = TelegramMedia("huge-on-telegram", "audio", message=MessageRef(-100999, 5))
    assert await code_of(source.resolve(unseen)) == "not_visible"
    missing = MessageRef(CHAT, 99)
    assert await code_of(source.resolve_message(missing, chat_id=CHAT)) == "not_visible"
    assert await code_of(source.resolve_message(MessageRef(CHAT, 6), chat_id=CHAT)) == ("not_audio")


async def test_size_limits_hold_for_assistant_downloads(
    bot: Bot, tmp_path: Path, seen: Path
) -> None:
    """sources.max_download_mb: on the size the account announces, and on the bytes."""
    big = seen / "bigchannel"
    big.mkdir()
    (big / "1.mp3").write_bytes(b"\0" * (2 << 20))
    source = files(bot, tmp_path, [FolderMessages(seen, name="a1")], max_mb=1)
    assert await code_of(source.resolve_message(MessageRef("bigchannel", 1), chat_id=1)) == (
        "too_big"
    )

    class Sizeless(FolderMessages):
        def _find(self, ref: MessageRef) -> RemoteFile:
            found = super()._find(ref)
            return RemoteFile(found.kind, found.unique_id, None, handle=found.handle)

    sizeless = files(bot, tmp_path, [Sizeless(seen, name="a2")], max_mb=1)
    assert await code_of(sizeless.resolve_message(MessageRef("bigchannel", 1), chat_id=1)) == (
        "too_big"
    )
    assert list((tmp_path / "cache").iterdir()) == []  # no partial file left behind


class Counting:
    """A reader that counts what it was asked, around another one."""

    def __init__(self, inner: MessageReader) -> None:
        self.inner = inner
        self.name = inner.name
        self.asked: list[MessageRef] = []

    async def find(self, ref: MessageRef) -> RemoteFile:
        self.asked.append(ref)
        return await self.inner.find(ref)

    def chunks(self, file: RemoteFile) -> AsyncGenerator[bytes, None]:
        return self.inner.chunks(file)


async def test_the_first_account_that_sees_the_message_reads_it(
    bot: Bot, tmp_path: Path, seen: Path
) -> None:
    blind = Counting(FolderMessages(tmp_path / "nothing", name="a1"))
    sighted = Counting(FolderMessages(seen, name="a2"))
    source = files(bot, tmp_path, [blind, sighted])
    track = await source.resolve_message(MessageRef("somechannel", 42), chat_id=CHAT)
    assert track.source == "https://t.me/somechannel/42"
    assert blind.asked == sighted.asked == [MessageRef("somechannel", 42)]


async def test_message_links_are_routed_to_the_assistants(
    bot: Bot, tmp_path: Path, seen: Path
) -> None:
    resolver = SourceResolver(
        SourcesConfig(cache_dir=str(tmp_path / "cache")),
        max_track_seconds=3600,
        telegram=files(bot, tmp_path, [FolderMessages(seen, name="a1")]),
    )
    request = SourceRequest(query="https://t.me/c/1234567890/5", chat_id=CHAT)
    assert resolver.route(request) == "telegram_link"
    track = await resolver.resolve(request)
    assert track.source == "https://t.me/c/1234567890/5"
    assert resolver.route(SourceRequest(query="t.me/somechannel/42")) == "telegram_link"


async def test_the_pool_asks_the_chats_own_account_first(tmp_path: Path, seen: Path) -> None:
    class Assignments:
        async def get(self, chat_id: int) -> str | None:
            return None

        async def claim(self, chat_id: int, assistant: str) -> str:
            return assistant

        async def move(self, chat_id: int, old: str, new: str) -> bool:
            return True

        async def release(self, chat_ids: list[int], assistant: str) -> int:
            return 0

        async def chats_of(self, assistant: str) -> list[int]:
            return []

        async def counts(self) -> dict[str, int]:
            return {}

    members = [
        ("a1", LocalEngine(account="a1", messages_dir=str(seen))),
        ("a2", LocalEngine(account="a2", messages_dir=str(seen))),
        ("a3", LocalEngine(account="a3")),  # no folder: it reads nothing
    ]
    pool = AssistantPool(members, Assignments())  # type: ignore[arg-type]
    await pool.start()
    try:
        assert [r.name for r in pool.message_readers(None)] == ["a1", "a2"]
        pool._route[CHAT] = "a2"
        assert [r.name for r in pool.message_readers(CHAT)] == ["a2", "a1"]
    finally:
        await pool.close()


# -- the kurigram reader against kurigram's own types and errors ------------------------------


class FakeClient:
    """Stands in for a connected kurigram Client: the two calls the reader makes."""

    is_connected = True

    def __init__(self, answers: list[Any], content: bytes = b"") -> None:
        self.answers = answers
        self.content = content
        self.dialogs_walked = 0
        self.calls: list[tuple[Any, Any]] = []

    async def get_messages(self, *, chat_id: Any, message_ids: Any, replies: int) -> Any:
        self.calls.append((chat_id, message_ids))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def get_dialogs(self, limit: int = 0) -> AsyncGenerator[object, None]:
        self.dialogs_walked += 1
        for _ in range(3):
            yield object()

    async def stream_media(self, message: Any) -> AsyncGenerator[bytes, None]:
        for start in range(0, len(self.content), 4):
            yield self.content[start : start + 4]


def kurigram_message(**media: Any) -> Any:
    from pyrogram import types

    return types.Message(id=5, empty=False, **media)


async def test_kurigram_reader_reads_a_message_and_its_bytes() -> None:
    from pyrogram import types

    audio = types.Audio(
        file_id="AgAD",
        file_unique_id="AQADu",
        duration=61,
        performer="Band",
        title="Song",
        file_name="song.mp3",
        mime_type="audio/mpeg",
        file_size=12,
    )
    client = FakeClient([kurigram_message(audio=audio)], content=b"0123456789ab")
    reader = KurigramMessages(lambda: client, name="a1")
    found = await reader.find(MessageRef(CHAT, 5))
    assert (found.kind, found.unique_id, found.title, found.performer, found.duration) == (
        "audio",
        "AQADu",
        "Song",
        "Band",
        61,
    )
    assert b"".join([c async for c in reader.chunks(found)]) == b"0123456789ab"
    assert client.calls == [(CHAT, 5)]


@pytest.mark.parametrize(
    "answer",
    [
        errors.ChannelPrivate(),
        errors.UsernameNotOccupied(),
        errors.ChannelInvalid(),
        errors.MsgIdInvalid(),
        None,  # get_messages found nothing
        "empty",
    ],
)
async def test_kurigram_reader_cannot_see(answer: Any) -> None:
    from pyrogram import types

    if answer == "empty":
        answer = types.Message(id=5, empty=True)
    reader = KurigramMessages(lambda: FakeClient([answer]), name="a1")
    with pytest.raises(CannotSee):
        await reader.find(MessageRef("somechannel", 5))


async def test_kurigram_reader_meets_its_dialogs_once_for_an_unknown_chat() -> None:
    from pyrogram import types

    voice = types.Voice(file_id="v", file_unique_id="vu", duration=3, file_size=4)
    client = FakeClient(
        [errors.PeerIdInvalid(), kurigram_message(voice=voice), errors.PeerIdInvalid()]
    )
    reader = KurigramMessages(lambda: client, name="a1")
    assert (await reader.find(MessageRef(CHAT, 5))).kind == "voice"
    assert client.dialogs_walked == 1
    with pytest.raises(CannotSee):  # walked once already: no second walk
        await reader.find(MessageRef(CHAT, 6))
    assert client.dialogs_walked == 1


async def test_kurigram_reader_no_media_and_no_client() -> None:
    reader = KurigramMessages(lambda: FakeClient([kurigram_message(text="hi")]), name="a1")
    with pytest.raises(NoMedia):
        await reader.find(MessageRef(CHAT, 5))
    with pytest.raises(CannotSee):
        await KurigramMessages(lambda: None, name="a2").find(MessageRef(CHAT, 5))
