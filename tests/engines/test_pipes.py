from __future__ import annotations

import asyncio
import sys

from bot.engines.pipes import STDERR_KEEP, keep_tail


async def test_a_child_that_writes_much_is_read_to_its_end_and_its_last_words_kept() -> None:
    # far more than a pipe holds: a child whose stderr nobody read would block on it
    script = (
        "import sys\n"
        "for i in range(20000): sys.stderr.write(f'line {i}\\n')\n"
        "sys.stderr.write('the reason it stopped\\n')\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    tail = bytearray()
    async with asyncio.timeout(30):
        await keep_tail(proc.stderr, tail)
        assert await proc.wait() == 0
    assert len(tail) == STDERR_KEEP
    assert tail.endswith(b"line 19999\nthe reason it stopped\n")
