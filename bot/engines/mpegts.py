"""Just enough MPEG-TS reading for the RTMP engine's hand-over between tracks: whole
188-byte packets, each picture's and sound's presentation time.

Each track's encoder writes its own MPEG-TS, its clock starting where the last track's
ended (``-output_ts_offset``), and the one long-lived relay copies them all into the
connection.  For that the engine must know where a track's clock ended (the last picture
and the last sound frame it forwarded) and how many pictures it sent (the track's
position); this reads both off the PES headers as the bytes pass, without decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PACKET = 188
SYNC = 0x47
#: PES timestamps count 90 kHz ticks in 33 bits
TICKS = 90_000
WRAP = 1 << 33
#: one AAC frame (1,024 samples at 48 kHz) in ticks; the next track's first sound frame
#: starts this much before its clock (the encoder's priming), so one more is left between
AAC_FRAME = 1_920


class NotTransportStream(ValueError):
    """The decoder's output lost packet sync: nothing after it can be forwarded."""


@dataclass(slots=True)
class TsClock:
    """Reads one track's MPEG-TS as it passes (``feed``): how many pictures went by and
    where its clock ends.  Times are unwrapped (a push may outlive the 26.5 hours that
    33 bits of 90 kHz hold), seconds on the push's timeline."""

    start: float
    fps: int
    pictures: int = field(default=0, init=False)
    _last_video: int | None = field(default=None, init=False)
    _last_audio: int | None = field(default=None, init=False)
    _reference: int = field(default=0, init=False)
    _rest: bytes = field(default=b"", init=False, repr=False)

    def __post_init__(self) -> None:
        self._reference = round(self.start * TICKS)

    def feed(self, chunk: bytes) -> bytes:
        """The whole packets of what arrived so far (a packet cut between two reads
        waits for its rest); raises ``NotTransportStream`` on a lost sync byte."""
        data = self._rest + chunk if self._rest else chunk
        whole = len(data) - len(data) % PACKET
        self._rest = data[whole:]
        for at in range(0, whole, PACKET):
            if data[at] != SYNC:
                raise NotTransportStream(f"no sync byte at {at}")
            if data[at + 1] & 0x40:  # payload_unit_start: a PES (or a table) begins here
                self._pes_start(data, at)
        return data[:whole]

    def end(self) -> float:
        """Where the next track's clock starts: after this one's last picture and its last
        sound frame, with room for the next encoder's priming."""
        ends = [self._reference]
        if self._last_video is not None:
            ends.append(self._last_video + round(TICKS / self.fps))
        if self._last_audio is not None:
            ends.append(self._last_audio + 2 * AAC_FRAME)
        return max(ends) / TICKS

    def _pes_start(self, data: bytes, at: int) -> None:
        payload = at + 4
        if data[at + 3] & 0x20:  # an adaptation field comes first
            payload += 1 + data[at + 4]
        if data[payload : payload + 3] != b"\0\0\1" or payload + 14 > at + PACKET:
            return  # a table (PAT, PMT, SDT), not a PES
        stream_id = data[payload + 3]
        if not data[payload + 7] & 0x80:
            return  # no PTS
        b = data[payload + 9 : payload + 14]
        pts = ((b[0] >> 1) & 7) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1
        pts = self._unwrap(pts)
        if 0xE0 <= stream_id <= 0xEF:
            self.pictures += 1
            self._last_video = pts
        elif 0xC0 <= stream_id <= 0xDF:
            self._last_audio = pts

    def _unwrap(self, pts: int) -> int:
        """``pts`` taken nearest to the last time seen (the clock moves forward in small
        steps, so a jump of about 2**33 is the counter wrapping, not time)."""
        unwrapped = pts + WRAP * round((self._reference - pts) / WRAP)
        self._reference = max(self._reference, unwrapped)
        return unwrapped
