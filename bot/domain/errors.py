"""One family for every expected failure: a code from one enum, and one chat message per
code (``bot.telegram.errors``, built per update in its language).

Sources, the queue store, the voice engines and the player raise subclasses of
``SattvaError`` (``SourceError``, ``QueueError``, ``EngineError``, ``PlayerError``) so
callers can still catch by origin, but the bot phrases them all from ``code`` and
``params``: a new failure ("no video in this file", "assistant banned") is one enum member
here and one line in the message table.  ``str(exc)`` stays the English detail for logs.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    # what /play was given (bot.sources)
    EMPTY = "empty"  # nothing to play: no argument and no replied-to media
    UNSUPPORTED = "unsupported"  # a scheme or site we do not play (file:, data:, ftp:, ...)
    PRIVATE_NETWORK = "private_network"  # the host is loopback/private/link-local/multicast
    UNREACHABLE = "unreachable"  # DNS failure, connection refused, HTTP error
    NOT_AUDIO = "not_audio"  # the media has no audio stream
    TOO_LONG = "too_long"  # longer than player.max_track_seconds
    TOO_BIG = "too_big"  # larger than sources.max_download_mb
    TIMEOUT = "timeout"  # probing or downloading took too long
    NOT_FOUND = "not_found"  # search or library lookup found nothing
    UNAVAILABLE = "unavailable"  # the needed tool (yt-dlp) is missing or refused
    BAD_FILE = "bad_file"  # Telegram described the file in a way that is unsafe to fetch
    BUSY = "busy"  # too many requests of this chat (or of all chats) are being fetched
    CACHE_FULL = "cache_full"  # the download folder is full of files still queued
    BOT_CHECK = "bot_check"  # YouTube: "Sign in to confirm you're not a bot" (needs cookies)
    LINK_UNREADABLE = "link_unreadable"  # a streaming service's page: params: service
    NO_READER = "no_reader"  # a file over 20 MB / a t.me link, and no assistant account runs
    NOT_VISIBLE = "not_visible"  # no assistant account can see that Telegram message
    # the queue store
    QUEUE_ERROR = "queue_error"  # any other store failure
    QUEUE_FULL = "queue_full"  # params: limit
    NO_SUCH_TRACK = "no_such_track"  # params: position, length
    STORAGE_UNAVAILABLE = "storage_unavailable"  # Redis or the database did not answer
    FENCED = "fenced"  # another process serves the chat now (cluster lease moved)
    # the voice engine
    ENGINE_ERROR = "engine_error"  # any other engine failure
    NO_ACTIVE_CALL = "no_active_call"
    NOT_ALLOWED = "not_allowed"  # the voice chat refuses everyone
    BANNED = "banned"  # this assistant account is banned or was removed (the pool moves on)
    NOT_MEMBER = "not_member"  # this assistant account cannot get in (the pool moves on)
    CHANNELS_TOO_MUCH = "channels_too_much"  # the account is in too many groups
    NO_ASSISTANT = "no_assistant"  # every assistant account is out of service
    MEDIA_ERROR = "media_error"
    NO_RTMP_TARGET = "no_rtmp_target"  # an RTMP chat without its URL and key
    FLOOD_WAIT = "flood_wait"  # params: seconds
    CALL_TIMEOUT = "call_timeout"  # Telegram did not answer the call request in time
    CONNECTION = "connection"  # the voice chat connection failed
    # the player
    NOTHING_PLAYING = "nothing_playing"  # skip, seek... with no track in the slot
    BAD_POSITION = "bad_position"  # seek outside 0 <= position < duration
    NOT_SEEKABLE = "not_seekable"  # seek on a live stream
    BAD_VOLUME = "bad_volume"  # volume outside VOLUME_MIN..VOLUME_MAX
    BAD_SPEED = "bad_speed"  # speed outside SPEED_MIN..SPEED_MAX
    LIVE_SPEED = "live_speed"  # /speed while a live stream plays (live is always 1x)
    VIDEO_LIMIT = "video_limit"  # player.max_video_streams video streams run already


class SattvaError(Exception):
    """An expected failure: nothing was changed, and ``code`` says what to tell the chat.

    ``params`` fill the chat message's placeholders; ``message`` is the log text."""

    def __init__(self, code: ErrorCode | str, message: str = "", **params: Any) -> None:
        self.code = ErrorCode(code)  # an unknown code is a bug: ValueError here
        self.params = params
        super().__init__(message or self.code.value)


class PlayerError(SattvaError):
    """Bad input or a request that makes no sense now; nothing was changed."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        super().__init__(code, f"{code.value}: {detail}" if detail else code.value)
        self.detail = detail
