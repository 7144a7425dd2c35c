"""A real RTMP server on a free loopback port: ``ffmpeg -listen 1`` accepts ONE publishing
connection and records what arrives to an FLV file, so a test can check with ffprobe that
picture and sound arrived, and that two tracks came through one connection (a second
connection would find nobody listening)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.procs import free_port


def listening(port: int) -> bool:
    """Some socket listens on 127.0.0.1:``port`` (state 0A in /proc/net/tcp)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        return any(
            line.split()[1] == wanted and line.split()[3] == "0A" for line in list(table)[1:]
        )


@dataclass
class RtmpServer:
    recording: Path
    port: int = 0
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live"

    async def start(self, key: str, port: int | None = None) -> None:
        """Listens for one publisher of ``key``; on ``port`` again to take a publisher
        that comes back to the same address (a chat resumed elsewhere)."""
        self.port = port or free_port()
        self.proc = await asyncio.create_subprocess_exec(
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-listen", "1", "-timeout", "30", "-i", f"{self.url}/{key}",
            "-c", "copy", "-f", "flv", str(self.recording),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        # a test connection would use up the one accept: watch the kernel's socket table
        for _ in range(200):
            if listening(self.port):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("the RTMP server did not start listening")

    async def finished(self, timeout: float = 20) -> int:
        """Waits until the publisher left (the server then ends); its exit code."""
        assert self.proc is not None
        async with asyncio.timeout(timeout):
            return await self.proc.wait()

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

    def streams(self) -> dict[str, object]:
        """ffprobe's view of the recording: stream kinds and duration (none: nothing came)."""
        if not self.recording.exists():
            return {"kinds": [], "codecs": [], "duration": 0.0}
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json",
             str(self.recording)],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        data = json.loads(out)
        return {
            "kinds": sorted(s["codec_type"] for s in data["streams"]),
            "codecs": sorted(s["codec_name"] for s in data["streams"]),
            "duration": float(data["format"].get("duration", 0)),
        }

    def timestamps(self, kind: str) -> list[float]:
        """The recording's packet times (seconds) of one stream kind ("video", "audio"),
        in the order they arrived."""
        selector = {"video": "v", "audio": "a"}[kind]
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", selector,
             "-show_entries", "packet=pts_time", "-of", "csv=p=0", str(self.recording)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        return [float(line) for line in out.split() if line]

    def decode_errors(self) -> str:
        """What ffmpeg complains of when decoding the whole recording (a picture cut in
        half shows up here as broken macroblocks)."""
        return subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", str(self.recording), "-f", "null", "-"],
            check=True, capture_output=True, text=True,
        ).stderr  # fmt: skip
