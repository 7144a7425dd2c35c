"""The assistant pool end to end: real players, real ffmpeg through virtual accounts of the
local engine, assignments in a real SQLite database.

Faults are scripted on the virtual accounts (flood wait, ban, not a member, too many
groups); the chat must keep playing on another account with its queue and position, the
move must be announced once, and an assignment must outlive a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.config import SourcesConfig
from bot.domain.errors import ErrorCode
from bot.domain.events import AssistantMoved, Event, EventBus, Subscription
from bot.domain.models import SourceKind, Track
from bot.domain.policy import PlayerPolicy
from bot.engines.base import ChannelsTooMuch, NotAllowed, RateLimited
from bot.engines.local import LocalEngine
from bot.engines.pool import AssistantPool, NoAssistant
from bot.metrics import REGISTRY
from bot.players import make_players
from bot.sources.resolver import SourceResolver
from bot.storage.assignments import AssignmentRepo
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import create_engine, session_factory
from bot.storage.db_queue import DatabaseQueueStore
from bot.storage.repos import HistoryRepo
from tests.support.audio import make_tone

NAMES = ("a1", "a2", "a3")


@pytest.fixture(scope="module")
def long_tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tone(tmp_path_factory.mktemp("audio") / "long.mp3", seconds=60, title="Long")


def track(path: Path, title: str) -> Track:
    return Track(
        title=title, source=f"lib:{title}", media=str(path), kind=SourceKind.LIBRARY, duration=60
    )


@dataclass
class Process:
    """One bot process: a pool of virtual accounts in front of the players."""

    database_url: str
    tmp_path: Path
    unbans: list[tuple[int, int]] = field(default_factory=list)
    unban_works: bool = False

    async def start(self, *, recover: bool = False) -> None:
        self.database = create_engine(self.database_url)
        sessions = session_factory(self.database)
        self.store = DatabaseQueueStore(self.database)
        self.accounts = {
            name: LocalEngine(account=name, user_id=1000 + i) for i, name in enumerate(NAMES)
        }
        self.assignments = AssignmentRepo(sessions)
        self.bus = EventBus()
        self.sub: Subscription = self.bus.subscribe()
        self.pool = AssistantPool(
            list(self.accounts.items()),
            self.assignments,
            notice=self._notice,
            unban=self._unban,
        )
        self.players = make_players(
            PlayerPolicy(resume_rewind_seconds=0),
            store=self.store,
            engine=self.pool,
            bus=self.bus,
            history=HistoryRepo(sessions),
            settings=ChatSettingsRepo(sessions),
            playlists=SourceResolver(
                SourcesConfig(library_dir=str(self.tmp_path)), max_track_seconds=600
            ),
            placement=lambda chat: {"assistant": self.pool.assistant_of(chat), "node": "n1"},
        )
        await self.pool.start()
        if recover:
            await self.players.recover()

    def _notice(self, chat: int, code: str, data: dict[str, Any]) -> None:
        self.bus.publish(
            AssistantMoved(chat_id=chat, code=code, source=data["from"], target=data["to"])
        )

    async def _unban(self, chat_id: int, user_id: int) -> bool:
        self.unbans.append((chat_id, user_id))
        return self.unban_works

    async def stop(self) -> None:
        await self.players.close()
        await self.pool.close()
        await self.store.close()
        await self.database.dispose()

    def events(self, name: str) -> list[Event]:
        out = []
        while (event := self.sub.get_nowait()) is not None:
            if event.event == name:
                out.append(event)
        return out

    def serving(self, chat_id: int) -> list[str]:
        """The accounts whose engine streams in the chat (exactly one while it plays)."""
        return [n for n, e in self.accounts.items() if chat_id in e.active_chats()]


@pytest.fixture
async def proc(database_url: str, tmp_path: Path) -> AsyncIterator[Process]:
    process = Process(database_url, tmp_path)
    await process.start()
    yield process
    await process.stop()


async def test_new_chats_go_to_the_least_loaded_account(proc: Process, long_tone: Path) -> None:
    for chat in (-1, -2, -3):
        await proc.players.play(chat, track(long_tone, f"T{chat}"))
    assert sorted(proc.serving(c)[0] for c in (-1, -2, -3)) == sorted(NAMES)
    changes = proc.events("track_change")
    assert {e.chat_id: e.data["assistant"] for e in changes} == {
        c: proc.serving(c)[0] for c in (-1, -2, -3)
    }
    assert all(e.data["node"] == "n1" for e in changes)
    # stored: a fourth chat goes to the account with fewest streams, then fewest chats
    await proc.players.stop(-1)
    await proc.players.play(-4, track(long_tone, "T-4"))
    first = await proc.assignments.get(-1)
    assert first is not None
    assert proc.serving(-4) == [first]
    assert await proc.assignments.get(-4) == first


async def test_flood_wait_cools_the_account_and_moves_the_chat(
    proc: Process, long_tone: Path
) -> None:
    moves = REGISTRY.get_sample_value("sattva_assistant_moves_total", {"reason": "flood_wait"})
    proc.accounts["a1"].faults.add(RateLimited(120))
    await proc.players.play(-1, track(long_tone, "One"))
    assert proc.serving(-1) == ["a2"]
    after = REGISTRY.get_sample_value("sattva_assistant_moves_total", {"reason": "flood_wait"})
    assert after == (moves or 0) + 1
    assert REGISTRY.get_sample_value("sattva_assistant_streams", {"assistant": "a2"}) == 1
    assert await proc.assignments.get(-1) == "a2"
    [alert] = proc.events("system_alert")
    assert alert.chat_id == -1
    assert alert.data == {"kind": "assistant_moved", "code": "flood_wait", "from": "a1", "to": "a2"}
    assert proc.pool.load()["a1"]["cool_down"] > 100
    # a1 takes no new chat while cooling down, though it is the least loaded
    await proc.players.play(-2, track(long_tone, "Two"))
    assert proc.serving(-2) == ["a3"]
    await proc.players.play(-3, track(long_tone, "Three"))
    assert proc.serving(-3) != ["a1"]


async def test_banned_account_is_unbanned_when_the_bot_can(proc: Process, long_tone: Path) -> None:
    proc.unban_works = True
    proc.accounts["a1"].faults.add(NotAllowed("banned", code=ErrorCode.BANNED))
    await proc.players.play(-1, track(long_tone, "One"))
    assert proc.unbans == [(-1, 1000)]
    assert proc.serving(-1) == ["a1"]
    assert proc.events("system_alert") == []


async def test_voice_chat_closed_to_everyone_does_not_move(proc: Process, long_tone: Path) -> None:
    proc.accounts["a1"].faults.add(NotAllowed("no voice chats here"))
    with pytest.raises(NotAllowed, match="no voice chats here"):
        await proc.players.play(-1, track(long_tone, "One"))
    assert await proc.assignments.get(-1) == "a1"
    assert proc.events("system_alert") == []


async def test_a_move_keeps_queue_and_position_across_a_restart(
    proc: Process, long_tone: Path
) -> None:
    for title in ("One", "Two", "Three"):
        await proc.players.play(-1, track(long_tone, title))
    assert proc.serving(-1) == ["a1"]
    await asyncio.sleep(2.5)
    await proc.stop()  # writes the position, as a graceful stop does

    # restart: the assignment is read back, and the chat returns to a1 ...
    await proc.start(recover=True)
    assert proc.serving(-1) == ["a1"]
    await proc.stop()

    # ... unless a1 is banned now and the bot cannot unban it: then a2 takes over
    await proc.start()
    proc.accounts["a1"].faults.add(NotAllowed("banned", code=ErrorCode.BANNED))
    await proc.players.recover()
    assert proc.serving(-1) == ["a2"]
    assert proc.unbans == [(-1, 1000)]
    now = await proc.store.now_playing(-1)
    assert now is not None
    assert now.track.title == "One"
    assert now.position >= 2.0
    position = await proc.pool.position(-1)
    assert position is not None
    assert position >= 2.0
    assert [t.title for t in await proc.store.pending(-1)] == ["Two", "Three"]
    [alert] = proc.events("system_alert")
    assert alert.data["code"] == "banned"


async def test_channels_too_much_moves_and_leaves_idle_chats(
    proc: Process, long_tone: Path
) -> None:
    # a1 serves -1 and -4 (both idle again), a2 and a3 one playing chat each
    await proc.players.play(-1, track(long_tone, "One"))
    await proc.players.play(-2, track(long_tone, "Two"))
    await proc.players.play(-3, track(long_tone, "Three"))
    await proc.players.stop(-1)
    await proc.players.play(-4, track(long_tone, "Four"))
    assert proc.serving(-4) == ["a1"]
    await proc.players.stop(-4)
    proc.accounts["a1"].faults.add(ChannelsTooMuch())
    await proc.players.play(-5, track(long_tone, "Five"))
    assert proc.serving(-5) == ["a2"]
    async with asyncio.timeout(5):
        await proc.pool.settled()
    assert await proc.assignments.chats_of("a1") == []
    assert sorted(proc.accounts["a1"].left) == [-4, -1]
    [alert] = proc.events("system_alert")
    assert alert.data["code"] == "channels_too_much"


async def test_every_account_failing_is_one_clear_error(proc: Process, long_tone: Path) -> None:
    for name in NAMES:
        proc.accounts[name].faults.add(RateLimited(60))
    with pytest.raises(NoAssistant):
        await proc.players.play(-1, track(long_tone, "One"))
    assert proc.pool.active_chats() == []
    assert [e.data["code"] for e in proc.events("system_alert")] == ["flood_wait", "flood_wait"]
