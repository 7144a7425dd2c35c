"""asyncio ends of os.pipe()s shared with ffmpeg children (``pass_fds``): the extra
outputs and inputs beyond stdin/stdout that the local and RTMP engines need."""

from __future__ import annotations

import asyncio
import os


def child_read_pipe() -> tuple[int, int]:
    """(read end for a child, write end for us)."""
    read_fd, write_fd = os.pipe()
    os.set_inheritable(read_fd, True)
    return read_fd, write_fd


async def writer(fd: int) -> asyncio.StreamWriter:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_write_pipe(
        lambda: asyncio.streams.FlowControlMixin(loop=loop), os.fdopen(fd, "wb", buffering=0)
    )
    return asyncio.StreamWriter(transport, protocol, None, loop)


async def reader(fd: int, *, limit: int = 1 << 22) -> asyncio.StreamReader:
    """A reader on a pipe's read end; it sees EOF once every writer (the child) closed."""
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader(limit=limit, loop=loop)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stream, loop=loop), os.fdopen(fd, "rb", buffering=0)
    )
    return stream
