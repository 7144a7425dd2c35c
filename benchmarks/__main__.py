"""``python -m benchmarks [name ...]``: runs all benchmarks (or the named ones) in order."""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from benchmarks.common import Result

# name -> module (each has ``async def run() -> Result``, or ``runs`` for several results)
BENCHMARKS: dict[str, str] = {
    "command_path": "benchmarks.command_path",
    "queue_redis": "benchmarks.queue_ops",
    "queue_db": "benchmarks.queue_ops",
    "queue_pg": "benchmarks.queue_ops",
    "recovery": "benchmarks.recovery",
    "ws_fanout": "benchmarks.ws_fanout",
    "memory": "benchmarks.memory",
    "audio_cpu": "benchmarks.audio_cpu",
    "play_latency": "benchmarks.latency",
    "track_gap": "benchmarks.latency",
    "play_latency_video": "benchmarks.latency_video",
    "track_gap_video": "benchmarks.latency_video",
    "video_cpu": "benchmarks.video_cpu",
    "rtmp_cpu": "benchmarks.rtmp_cpu",
    "cluster_scale": "benchmarks.cluster_scale",
}


Run = Callable[[], Coroutine[Any, Any, Result]]


def runner(name: str) -> Run:
    module = importlib.import_module(BENCHMARKS[name])
    run: Run = getattr(module, f"run_{name}", None) or module.run
    return run


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    results: list[Result] = []
    failed: list[str] = []
    started = time.monotonic()
    for name in names:
        begun = time.monotonic()
        try:
            result: Result = asyncio.run(runner(name)())
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            print(f"== {name}: FAILED: {exc.__class__.__name__}: {exc}", flush=True)
            failed.append(name)
            continue
        result.print()
        print(f"  ({time.monotonic() - begun:.1f} s)\n", flush=True)
        results.append(result)
    print(f"== summary ({time.monotonic() - started:.0f} s)")
    for result in results:
        state = "met" if result.met else "NOT met"
        print(f"  {result.bench:<13} ratio {result.ratio:8.3f}  target {result.target:<16} {state}")
    for name in failed:
        print(f"  {name:<13} FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
