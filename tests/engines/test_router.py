"""Per-chat engines: a chat that set an RTMP target streams through the RTMP engine (into
a real RTMP server), the others through the process's engine; the choice and the target
come from the chats' settings in a real SQLite database."""

from __future__ import annotations

from pathlib import Path

from bot.domain.video import fit
from bot.engines.base import FirstFrame, PlayRequest, TrackEnded
from bot.engines.local import LocalEngine
from bot.engines.router import EngineRouter, engine_name
from bot.engines.rtmp import RtmpEngine
from bot.storage.chat_settings import ChatSettingsRepo
from bot.storage.database import create_engine, migrate, session_factory
from bot.wiring import chat_placement
from tests.engines.test_local import Recorder
from tests.support.rtmp_server import RtmpServer

VOICE, STREAMED = -1001, -1002
KEY = "router-key"


async def test_chats_choose_their_engine(tmp_path: Path, videos: dict[str, Path]) -> None:
    db = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    await migrate(db)
    repo = ChatSettingsRepo(session_factory(db), cache_seconds=5)
    server = RtmpServer(tmp_path / "got.flv")
    await server.start(KEY)
    await repo.set_rtmp(STREAMED, server.url, KEY)
    local = LocalEngine()
    rtmp = RtmpEngine(targets=repo.rtmp_target, quality="360p")
    router = EngineRouter(local, {"rtmp": rtmp}, repo.engine_choice)
    rec = Recorder()
    router.set_handler(rec)
    await router.start()
    try:
        spec = fit("360p", 640, 360, 25.0)
        await router.play(PlayRequest(VOICE, "v", str(videos["landscape"]), video=spec))
        await router.play(PlayRequest(STREAMED, "s", str(videos["landscape"]), video=spec))
        assert local.active_chats() == [VOICE]
        assert rtmp.active_chats() == [STREAMED]
        assert sorted(router.active_chats()) == [STREAMED, VOICE]
        # what track_change and the dashboard show as each chat's engine
        assert (engine_name(router, VOICE), engine_name(router, STREAMED)) == ("local", "rtmp")
        where = chat_placement("n1", None, router)
        assert where(STREAMED) == {"assistant": None, "node": "n1", "engine": "rtmp"}
        await rec.wait_for(TrackEnded, nth=2, timeout=20)
        # switching back is read at the next start, not in the middle of a stream
        await repo.clear_rtmp(STREAMED)
        assert router.engine_of(STREAMED) is rtmp
        await router.stop(STREAMED)
        assert await server.finished() == 0
        await router.play(PlayRequest(STREAMED, "s2", str(videos["cover"])))
        assert router.engine_of(STREAMED) is local
    finally:
        await router.close()
        await server.close()
        await db.dispose()
    assert {e.track_id for e in rec.of(FirstFrame)} >= {"v", "s"}
    assert server.streams()["kinds"] == ["audio", "video"]
