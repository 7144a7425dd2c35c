"""Translation of py-tgcalls updates and exceptions into engine events and EngineErrors.

Kept apart from the engine and free of any network call so that tests feed it the real
py-tgcalls update and exception classes and check what the player would see.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import ntgcalls
from pyrogram import errors as tg_errors
from pytgcalls import exceptions as calls_errors
from pytgcalls.types import (
    ChatUpdate,
    GroupCallParticipant,
    StreamEnded,
    Update,
    UpdatedGroupCallParticipant,
)

from bot.domain.errors import ErrorCode
from bot.engines.base import (
    CallGone,
    ChannelsTooMuch,
    EngineError,
    EngineEvent,
    ListenersChanged,
    MediaError,
    NoActiveCall,
    NotAllowed,
    RateLimited,
    TrackEnded,
)
from bot.metrics import ENGINE_FLOOD_WAITS

#: an end reported this soon after a stream started is the replaced stream's, not ours
EARLY_END_SECONDS = 1.0

_GONE_REASONS = (
    (ChatUpdate.Status.KICKED, "kicked"),
    (ChatUpdate.Status.LEFT_GROUP, "left_group"),
    (ChatUpdate.Status.CLOSED_VOICE_CHAT, "closed_voice_chat"),
    (ChatUpdate.Status.DISCARDED_CALL, "discarded_call"),
    (ChatUpdate.Status.BUSY_CALL, "busy_call"),
)


class EndVerdict(Enum):
    END = "end"  # a real end of the current track
    EARLY = "early"  # too soon after the start: verify before believing it
    DUPLICATE = "duplicate"  # this track's end was already reported
    IGNORED = "ignored"  # not the primary stream, or a chat we do not play in
    PICTURE_LOST = "picture_lost"  # a video track's picture died; its sound plays on


@dataclass
class ChatCall:
    track_id: str
    started_at: float
    ended: bool = False
    #: the stream whose end is the track's end: audio, or the picture of a silent video
    primary: StreamEnded.Type = StreamEnded.Type.AUDIO
    video: bool = False  # the track streams a picture too
    participants: set[int] | None = None  # None until the first full listing
    listeners: int | None = None


@dataclass
class UpdateTranslator:
    """Per-chat memory of what the adapter last played, and the rules applied to updates."""

    my_user_id: int | None = None
    clock: Callable[[], float] = time.monotonic
    chats: dict[int, ChatCall] = field(default_factory=dict)

    def started(
        self, chat_id: int, track_id: str, *, video: bool = False, has_audio: bool = True
    ) -> None:
        """The adapter just (re)started ``track_id`` in the chat (play or seek)."""
        call = self.chats.get(chat_id)
        if call is None:
            call = self.chats[chat_id] = ChatCall(track_id, self.clock())
        else:
            call.track_id, call.started_at, call.ended = track_id, self.clock(), False
        call.video = video
        silent = video and not has_audio
        call.primary = StreamEnded.Type.VIDEO if silent else StreamEnded.Type.AUDIO

    def forget(self, chat_id: int) -> None:
        self.chats.pop(chat_id, None)

    def judge_end(self, update: StreamEnded) -> tuple[EndVerdict, str | None]:
        call = self.chats.get(update.chat_id)
        if call is None:
            return EndVerdict.IGNORED, None
        if not (update.stream_type & call.primary):
            lost = call.video and bool(update.stream_type & StreamEnded.Type.VIDEO)
            if lost and not call.ended:
                return EndVerdict.PICTURE_LOST, call.track_id
            return EndVerdict.IGNORED, None
        if call.ended:
            return EndVerdict.DUPLICATE, call.track_id
        if self.clock() - call.started_at < EARLY_END_SECONDS:
            return EndVerdict.EARLY, call.track_id
        call.ended = True
        return EndVerdict.END, call.track_id

    def confirm_end(self, chat_id: int, track_id: str) -> TrackEnded | None:
        """After an EARLY verdict was verified as a real end (the call went idle)."""
        call = self.chats.get(chat_id)
        if call is None or call.track_id != track_id or call.ended:
            return None
        call.ended = True
        return TrackEnded(chat_id, track_id)

    def set_participants(self, chat_id: int, user_ids: set[int]) -> ListenersChanged | None:
        call = self.chats.get(chat_id)
        if call is None:
            return None
        call.participants = set(user_ids)
        return self._recount(chat_id, call)

    def participant(self, update: UpdatedGroupCallParticipant) -> ListenersChanged | None:
        call = self.chats.get(update.chat_id)
        if call is None or call.participants is None:
            return None
        user_id = update.participant.user_id
        action = update.action
        if action & GroupCallParticipant.Action.JOINED:
            call.participants.add(user_id)
        elif action & (GroupCallParticipant.Action.LEFT | GroupCallParticipant.Action.KICKED):
            call.participants.discard(user_id)
        else:
            return None
        return self._recount(update.chat_id, call)

    def _recount(self, chat_id: int, call: ChatCall) -> ListenersChanged | None:
        assert call.participants is not None
        count = len(call.participants - {self.my_user_id})
        if count == call.listeners:
            return None
        call.listeners = count
        return ListenersChanged(chat_id, count)

    def chat_update(self, update: ChatUpdate) -> CallGone | None:
        for flag, reason in _GONE_REASONS:
            if update.status & flag:
                had_call = update.chat_id in self.chats
                self.forget(update.chat_id)
                return CallGone(update.chat_id, reason) if had_call else None
        return None

    def translate(self, update: Update) -> list[EngineEvent]:
        """Events for an update whose verdict needs no verification (EARLY gives none)."""
        if isinstance(update, StreamEnded):
            verdict, track_id = self.judge_end(update)
            if verdict is EndVerdict.END and track_id is not None:
                return [TrackEnded(update.chat_id, track_id)]
            return []
        if isinstance(update, UpdatedGroupCallParticipant):
            changed = self.participant(update)
            return [changed] if changed else []
        if isinstance(update, ChatUpdate):
            gone = self.chat_update(update)
            return [gone] if gone else []
        return []


def map_error(exc: BaseException) -> EngineError | None:
    """The chat-ready EngineError for a py-tgcalls/kurigram/ntgcalls failure, if known."""
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, calls_errors.NoActiveGroupCall):
        return NoActiveCall()
    if isinstance(exc, tg_errors.FloodWait):
        ENGINE_FLOOD_WAITS.inc()
        value = exc.value
        return RateLimited(value if isinstance(value, int) else 0)
    if isinstance(exc, tg_errors.UserBannedInChannel | tg_errors.UserKicked):
        return NotAllowed("the assistant account is banned in this group", code=ErrorCode.BANNED)
    if isinstance(exc, tg_errors.ChannelsTooMuch):
        return ChannelsTooMuch()
    if isinstance(exc, tg_errors.GroupcallForbidden | tg_errors.ChatAdminRequired):
        return NotAllowed("the assistant is not allowed to join this voice chat")
    if isinstance(exc, tg_errors.InviteRequestSent):
        return NotAllowed(
            "the assistant's join request waits for an admin's approval", code=ErrorCode.NOT_MEMBER
        )
    if isinstance(exc, tg_errors.InviteHashExpired | tg_errors.InviteHashInvalid):
        return NotAllowed(
            "the invite link for the assistant is no longer valid", code=ErrorCode.NOT_MEMBER
        )
    if isinstance(exc, tg_errors.ChannelPrivate):
        return NotAllowed(
            "the assistant cannot see this group (removed or banned?)", code=ErrorCode.BANNED
        )
    if isinstance(
        exc,
        ntgcalls.FFmpegError
        | ntgcalls.FileError
        | ntgcalls.ShellError
        | FileNotFoundError
        | calls_errors.NoAudioSourceFound,
    ):
        return MediaError()
    if isinstance(exc, calls_errors.TimedOutAnswer | TimeoutError):
        return EngineError("Telegram did not answer in time", code=ErrorCode.CALL_TIMEOUT)
    if isinstance(exc, ntgcalls.TelegramServerError | ntgcalls.ConnectionError):
        return EngineError("the voice chat connection failed", code=ErrorCode.CONNECTION)
    return None


#: errors that mean "the assistant is not a member yet": join with an invite, then retry
NOT_A_MEMBER: tuple[type[BaseException], ...] = (
    tg_errors.ChannelInvalid,
    tg_errors.PeerIdInvalid,
    tg_errors.UserNotParticipant,
    tg_errors.ChannelPrivate,
)
