"""The plumbing of an RTMP chat: its target, its relay and the forwarding of one track's
encoded stream into the relay (see ``bot.engines.rtmp`` for why it is built this way)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot import metrics
from bot.domain.ports import RtmpTarget
from bot.domain.video import VideoSpec
from bot.engines.base import PlayRequest
from bot.engines.mpegts import NotTransportStream, TsClock
from bot.engines.pipes import keep_tail

#: what ``forward`` returns when the relay went away: not the track's failure (the relay's
#: watcher connects again and resumes the track)
RELAY_GONE = -1
#: what one read takes from a track's ffmpeg at most
READ_BYTES = 1 << 16


TargetLookup = Callable[[int], Awaitable[RtmpTarget | None]]


@dataclass(eq=False)
class Push:
    """A chat's relay and its connection, alive from the first play until stop."""

    target: RtmpTarget
    frame: VideoSpec
    proc: asyncio.subprocess.Process
    stderr: bytearray = field(default_factory=bytearray)
    watcher: asyncio.Task[None] | None = None
    #: seconds on the connection's clock where the next track's stream begins
    clock: float = 0.0


@dataclass(eq=False)
class Track:
    request: PlayRequest
    offset: float
    proc: asyncio.subprocess.Process | None = None
    frames: int = 0  # pictures forwarded this run
    first_sent: bool = False
    cancelled: bool = False
    paused_at: float | None = None
    task: asyncio.Task[None] | None = None
    stderr: bytearray = field(default_factory=bytearray)


async def forward(push: Push, track: Track, on_first_frame: Callable[[], None]) -> int:
    """Moves one track's encoded stream into the relay, whole packets only, until the
    track's ffmpeg ends (a halted one ends gracefully, so its last picture is whole);
    then moves the push's clock past it.  Returns its exit code, or ``RELAY_GONE``."""
    proc = track.proc
    assert proc is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    relay = push.proc.stdin
    assert relay is not None
    clock = TsClock(push.clock, push.frame.fps)

    async def stream() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(READ_BYTES):
            relay.write(clock.feed(chunk))
            new = clock.pictures - track.frames
            if new:
                metrics.VIDEO_FRAMES.inc(new)
                track.frames = clock.pictures
                if not track.first_sent:
                    track.first_sent = True
                    on_first_frame()
            await relay.drain()

    def kill() -> None:
        # or it would sit for ever on a pipe nobody reads, outliving the track
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    try:
        await asyncio.gather(stream(), keep_tail(proc.stderr, track.stderr))
        return await proc.wait()
    except (ConnectionError, OSError):
        kill()
        return RELAY_GONE
    except NotTransportStream:
        kill()
        track.stderr += b"\nits output is not an MPEG-TS stream"
        return await proc.wait()
    finally:
        push.clock = max(push.clock, clock.end())
