"""Moves a decoder's raw pictures into the RTMP encoder's pipe without passing them through
Python: ``os.splice`` from one pipe to the other, in a thread.

At 720p30 the pictures are ~41 MB/s.  Read into a ``StreamReader`` and written out through
a ``StreamWriter``, they cost this process as much CPU as the decoder itself
(``benchmarks/rtmp_cpu.py``); spliced, the kernel hands the pipe's pages over and the
process only counts.  What the asyncio path guaranteed still holds: the encoder never gets
half a frame.  A run stopped mid-frame (skip, pause, seek: the decoder is killed), or cut
short by the decoder's own end, completes its last frame with black, so the next run's
first byte is the first byte of a frame.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
from collections.abc import Callable

#: how long one wait for either pipe lasts before the stop flag is looked at again
POLL_SECONDS = 0.1
#: the largest pipe an unprivileged process may ask for (``/proc/sys/fs/pipe-max-size``'s
#: default): fewer, larger splices per frame
PIPE_BYTES = 1 << 20


class EncoderGone(Exception):
    """The encoder's end of the pipe closed (it died, or is being reconnected)."""


def enlarge(fd: int, size: int = PIPE_BYTES) -> None:
    """Asks for a bigger pipe buffer; the default (64 KiB) works too, in more steps."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)


class PictureSplice:
    """One decoder run's pictures: ``run`` (in a thread) until the decoder's pipe ends or
    ``stopped()`` says the run was cancelled; ``frames`` whole frames went through."""

    def __init__(
        self,
        source: int,
        target: int,
        black: bytes,
        *,
        stopped: Callable[[], bool],
        on_frame: Callable[[], None],
    ) -> None:
        self._source = source
        self._target = target
        self._black = black  # one black frame: its tail completes a cut-off frame
        self._frame_bytes = len(black)
        self._stopped = stopped
        self._on_frame = on_frame
        self.frames = 0

    def run(self) -> None:
        """Raises EncoderGone when the encoder's pipe closed under it."""
        moved = 0  # bytes of the current frame already in the encoder's pipe
        try:
            while not self._stopped():
                if not self._ready(self._source, select.POLLIN):
                    continue
                if not self._ready(self._target, select.POLLOUT):
                    continue
                try:
                    n = os.splice(
                        self._source,
                        self._target,
                        self._frame_bytes - moved,
                        flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK,
                    )
                except BlockingIOError:
                    continue  # the other side filled (or emptied) between poll and splice
                if n == 0:
                    break  # the decoder's end: all it wrote has been moved
                moved += n
                if moved == self._frame_bytes:
                    moved = 0
                    self.frames += 1
                    self._on_frame()
            if moved:  # a frame cut off: completed, it is a frame the encoder shows
                self._write_all(self._black[moved:])
                self.frames += 1
                self._on_frame()
        except (BrokenPipeError, ConnectionError) as exc:
            raise EncoderGone() from exc
        finally:
            os.close(self._source)

    def _ready(self, fd: int, event: int) -> bool:
        poller = select.poll()
        poller.register(fd, event)
        found = poller.poll(POLL_SECONDS * 1000)
        if found and found[0][1] & select.POLLERR:
            raise BrokenPipeError()
        # POLLHUP on the source: the decoder closed its end; splice reads what is left, then 0
        return bool(found)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if not self._ready(self._target, select.POLLOUT):
                continue
            try:
                view = view[os.write(self._target, view) :]
            except BlockingIOError:
                continue
