"""memory: resident memory of a fresh process idle, with 10,000 chats' state loaded
(recovered players), and per active local-engine stream.

The measuring runs in a child process (``python -m benchmarks.memory child ...``) so that
nothing the other benchmarks allocated is counted.  The state is the same as in
``recovery`` (10,000 chats, one track playing and nine pending each, on the FakeEngine);
the FakeEngine's call log, a test recorder, is emptied before measuring.  Streams are the
LocalEngine playing a minute-long file in 20 chats: the Python process's growth and each
ffmpeg child's own RSS are reported apart.

The ratio is bytes per chat against a budget of 20,000 B/chat (2 KB of track JSON per
chat in Redis is the data; the budget allows the player objects, locks and metrics around
it ten times that).
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
from pathlib import Path

import psutil

from benchmarks.common import Result, local_engine, migrated_database, redis_server, scratch_dir
from benchmarks.recovery import CHATS, fill, players_on
from bot.engines.base import FirstFrame, PlayRequest
from tests.support.audio import make_tone

STREAMS = 20
BUDGET = 20_000  # bytes per chat


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


async def child(redis_url: str, database: Path, song: Path) -> dict[str, int]:
    async with players_on(redis_url, database) as (players, engine):
        idle = rss()
        restored = await players.recover()
        engine.calls.clear()
        loaded = rss()
    if restored != CHATS:
        raise AssertionError(f"restored {restored} of {CHATS}")
    async with local_engine(STREAMS, until=FirstFrame) as (local, all_started):
        before = rss()
        for chat_id in range(1, STREAMS + 1):
            await local.play(PlayRequest(chat_id, f"t{chat_id}", str(song)))
        await asyncio.wait_for(all_started.wait(), 30)
        await asyncio.sleep(1.0)  # let the pipes and buffers reach their steady size
        streaming = rss()
        children = [psutil.Process(pid).memory_full_info() for pid in local.process_ids()]
    return {
        "idle": idle,
        "loaded": loaded,
        "chats": restored,
        "before_streams": before,
        "streaming": streaming,
        "ffmpeg_rss": sum(c.rss for c in children),
        "ffmpeg_uss": sum(c.uss for c in children),
        "ffmpeg_count": len(children),
    }


async def run() -> Result:
    with scratch_dir() as workdir, redis_server(workdir) as server:
        database = await migrated_database(workdir)
        await fill(server.url)
        song = make_tone(workdir / "song.mp3", seconds=60)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.memory", "child", server.url, str(database),
            str(song), stdout=subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"the measuring child failed ({proc.returncode})")
    m: dict[str, int] = json.loads(out.decode().strip().splitlines()[-1])
    per_chat = (m["loaded"] - m["idle"]) / m["chats"]
    per_stream = (m["streaming"] - m["before_streams"]) / STREAMS
    count = max(1, m["ffmpeg_count"])
    ffmpeg_rss, ffmpeg_uss = m["ffmpeg_rss"] / count, m["ffmpeg_uss"] / count
    mib = 1024 * 1024
    return Result(
        bench="memory",
        ours=per_chat,
        baseline=BUDGET,
        target="<=1.0 (of 20000 B/chat)",
        unit="B/chat",
        rows=[
            ("idle process RSS", f"{m['idle'] / mib:.1f} MiB"),
            (f"with {m['chats']} chats recovered", f"{m['loaded'] / mib:.1f} MiB"),
            ("per chat", f"{per_chat:.0f} B (budget {BUDGET} B)"),
            (f"per local stream ({STREAMS} streams)", f"{per_stream / 1024:.0f} KiB in-process"),
            (
                "per ffmpeg child: RSS / USS (own pages)",
                f"{ffmpeg_rss / mib:.1f} MiB / {ffmpeg_uss / mib:.1f} MiB",
            ),
        ],
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        url, database, song = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
        print(json.dumps(asyncio.run(child(url, database, song))), flush=True)
    else:
        asyncio.run(run()).print()
