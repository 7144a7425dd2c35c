"""The ``ffmpeg_parameters`` string the py-tgcalls engine hands to py-tgcalls.

py-tgcalls runs its own ffmpeg per stream (one for the sound, one for a video's picture)
and builds each command from this string (``pytgcalls.ffmpeg.build_command``): it is split
with ``shlex``, ``--audio`` / ``--video`` start a part for one of the two commands (what
comes before goes to both), and ``-atstart`` / ``-atmid`` / ``-atend`` place what follows
before ``-i``, right after the input, or at the end.  So:

* the input options (protocol whitelist, proxy) and ``-ss`` go before ``-i`` of both:
  the seek is in track (source) time, before any tempo change;
* at another speed the sound gets ``-af atempo=S`` right after its input (py-tgcalls adds
  no audio filter of its own);
* the picture cannot get ``-vf setpts=PTS/S``: py-tgcalls appends its own ``-vf scale=...``
  after everything but ``-atend``, and ffmpeg keeps only the last ``-vf`` of a stream.  It
  gets ``-itsscale 1/S`` before ``-i`` instead: the same timestamps divided by S, applied
  after the seek's offset, and its ``-r`` then drops or repeats frames to the call's rate.
"""

from __future__ import annotations

from bot.domain.policy import SPEED_NORMAL
from bot.engines.base import PlayRequest
from bot.engines.decode import rate, speed_text, tempo_filter
from bot.ffmpeg import FfmpegInput, source_options


def ffmpeg_parameters(source: FfmpegInput, request: PlayRequest, position: float) -> str:
    """py-tgcalls splits this on whitespace: the proxy URL and protocol lists have none,
    and a separate sound input is network too (yt-dlp), so the same options fit it.
    Raises ``ValueError`` for a speed outside the range (see ``speed_text``)."""
    params = " ".join(source_options(source))
    if position > 0 and not request.is_live:
        params += f" -ss {position:.3f}"
    speed = rate(request)
    tempo = tempo_filter(speed)
    if tempo is not None:
        scale = SPEED_NORMAL / float(speed_text(speed))
        params += f" --audio -atmid -af {tempo} --video -atstart -itsscale {scale:.6f}"
    return params
