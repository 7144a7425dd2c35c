"""asyncio ends of os.pipe()s shared with ffmpeg children (``pass_fds``): the extra
outputs and inputs beyond stdin/stdout that the local engine needs (the RTMP engine starts
its tracks through ``spawn_decoder`` as well)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from bot.engines.base import EngineError


async def spawn_decoder(
    args_for: Callable[[str], list[str]], *, picture: bool
) -> tuple[asyncio.subprocess.Process, int | None]:
    """Starts an ffmpeg decoder (sound on stdout, errors on stderr) and, with ``picture``,
    a pipe of its own for the picture: its write end passed to the child as ``pipe:N`` and
    closed here once the child has it.  Returns the process and the picture's read end."""
    read_fd, write_fd = os.pipe() if picture else (-1, -1)
    try:
        proc = await asyncio.create_subprocess_exec(
            *args_for(f"pipe:{write_fd}"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=(write_fd,) if picture else (),
        )
    except OSError as exc:
        if picture:
            os.close(read_fd)
        raise EngineError(f"cannot start ffmpeg: {exc.strerror or exc}") from None
    finally:
        if picture:
            os.close(write_fd)
    return proc, read_fd if picture else None


async def reader(fd: int, *, limit: int = 1 << 22) -> asyncio.StreamReader:
    """A reader on a pipe's read end; it sees EOF once every writer (the child) closed."""
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader(limit=limit, loop=loop)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stream, loop=loop), os.fdopen(fd, "rb", buffering=0)
    )
    return stream


#: how much of a child's stderr is kept: its last lines are what a failure reports
STDERR_KEEP = 4096


async def keep_tail(stream: asyncio.StreamReader, into: bytearray) -> None:
    """Reads a child's stderr to its end, keeping the last ``STDERR_KEEP`` bytes in
    ``into``: the pipe must be read or the child blocks once it is full, and only the end
    says why it stopped (``bot.ffmpeg.tail_message``)."""
    while chunk := await stream.read(1024):
        into += chunk
        del into[:-STDERR_KEEP]
