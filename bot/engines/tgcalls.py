"""The real engine: py-tgcalls 3 on a kurigram user account (the "assistant") that joins the
group's voice chat and streams into it.

Seek and a speed change restart the stream with ``-ss`` (py-tgcalls has neither; the
ffmpeg parameters, tempo filters included, are built in ``bot.engines.tgcalls_params``),
and every start is told to the translator so that the end report of a replaced stream,
which ntgcalls delivers shortly after the new one began, is not taken for the end of the new track.

The stream itself (a video track's picture too) is built, and probed ahead of its play,
in ``bot.engines.tgcalls_streams``.  Switching kinds is a new stream in the same call (no
rejoin).  Whether the assistant may start a voice chat that is not running is
``engine.start_video_chat``; py-tgcalls would otherwise start one silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.domain.errors import ErrorCode
from bot.domain.policy import VOLUME_MAX, VOLUME_MIN
from bot.engines.base import (
    CallGone,
    EngineError,
    EventHandler,
    MediaError,
    NotAllowed,
    PictureLost,
    PlayRequest,
    TrackEnded,
)
from bot.engines.decode import rate
from bot.engines.dispatch import EventDispatcher
from bot.engines.tg_reader import KurigramMessages
from bot.engines.tgcalls_events import (
    EARLY_END_SECONDS,
    NOT_A_MEMBER,
    EndVerdict,
    UpdateTranslator,
    map_error,
)
from bot.engines.tgcalls_streams import Preloads, build_stream
from bot.sources.tg_messages import MessageReader

log = logging.getLogger(__name__)

InviteLink = Callable[[int], Awaitable[str]]


@dataclass
class _Playing:
    """The chat's call, from the first play until stop or CallGone (ends keep it)."""

    request: PlayRequest
    offset: float  # where the current stream started within the track
    ended: bool = False


class PyTgCallsEngine:
    name = "pytgcalls"

    def __init__(
        self,
        *,
        api_id: int,
        api_hash: str,
        session_string: str,
        invite_link: InviteLink,
        account: str = "assistant",
        client_factory: Callable[[], Any] | None = None,
        calls_factory: Callable[[Any], Any] | None = None,
        start_video_chat: bool = False,
    ) -> None:
        self._api_id = api_id
        self._account = account
        self._api_hash = api_hash
        self._session_string = session_string
        self._invite_link = invite_link
        self._start_video_chat = start_video_chat
        self._client_factory = client_factory or self._default_client
        self._calls_factory = calls_factory or self._default_calls
        self._client: Any = None
        self._calls: Any = None
        self._events = EventDispatcher(f"pytgcalls-{account}")
        self.translator = UpdateTranslator()
        self._playing: dict[int, _Playing] = {}
        self._preloads = Preloads()
        self._locks: dict[int, asyncio.Lock] = {}
        self._checks: set[asyncio.Task[None]] = set()
        #: how long an early end waits before the call state is asked (tests shorten it)
        self.verify_delay = EARLY_END_SECONDS
        #: the account reading messages (files over 20 MB, t.me links) with the same client
        self.messages = KurigramMessages(lambda: self._client, name=account)

    # -- lifecycle -------------------------------------------------------------------------

    def _default_client(self) -> Any:
        from pyrogram import Client

        return Client(
            f"sattva-{self._account}",  # in memory: one client per account, no session file
            api_id=self._api_id,
            api_hash=self._api_hash,
            session_string=self._session_string,
            in_memory=True,
        )

    @staticmethod
    def _default_calls(client: Any) -> Any:
        from pytgcalls import PyTgCalls

        return PyTgCalls(client)

    def set_handler(self, handler: EventHandler) -> None:
        self._events.set_handler(handler)

    async def start(self) -> None:
        # PyTgCalls binds the running loop when constructed, so it is built here
        self._client = self._client_factory()
        self._calls = self._calls_factory(self._client)
        self._register_handlers()
        self._events.start()
        try:
            await self._calls.start()
        except Exception as exc:
            raise map_error(exc) or EngineError(f"the assistant cannot start: {exc}") from exc
        me = getattr(self._client, "me", None)
        self.translator.my_user_id = getattr(me, "id", None)

    def _register_handlers(self) -> None:
        from pytgcalls import filters
        from pytgcalls.types import ChatUpdate, StreamEnded

        gone = (
            ChatUpdate.Status.KICKED
            | ChatUpdate.Status.LEFT_GROUP
            | ChatUpdate.Status.CLOSED_VOICE_CHAT
            | ChatUpdate.Status.DISCARDED_CALL
        )

        async def ended(_: Any, update: Any) -> None:
            self.on_stream_ended(update)

        async def changed(_: Any, update: Any) -> None:
            self.on_update(update)

        self._calls.add_handler(
            ended, filters.stream_end(StreamEnded.Type.AUDIO | StreamEnded.Type.VIDEO)
        )
        self._calls.add_handler(changed, filters.call_participant())
        self._calls.add_handler(changed, filters.chat_update(gone))

    async def close(self) -> None:
        for task in list(self._checks):
            task.cancel()
        self._preloads.drop_all()
        for chat_id in list(self._playing):
            with contextlib.suppress(Exception):
                await self.stop(chat_id)
        if self._client is not None and getattr(self._client, "is_connected", False):
            with contextlib.suppress(Exception):
                await self._client.stop()
        await self._events.close()

    # -- update entry points (also what the tests drive) --------------------------------

    def on_update(self, update: Any) -> None:
        for event in self.translator.translate(update):
            if isinstance(event, CallGone):
                self._playing.pop(event.chat_id, None)
            self._events.emit(event)

    def on_stream_ended(self, update: Any) -> None:
        verdict, track_id = self.translator.judge_end(update)
        if verdict is EndVerdict.END and track_id is not None:
            self._mark_ended(update.chat_id)
            self._events.emit(TrackEnded(update.chat_id, track_id))
        elif verdict is EndVerdict.PICTURE_LOST and track_id is not None:
            log.warning(
                "chat %s: the picture of %s ended early; sound plays on", update.chat_id, track_id
            )
            self._events.emit(PictureLost(update.chat_id, track_id))
        elif verdict is EndVerdict.EARLY and track_id is not None:
            task = asyncio.create_task(self._verify_early_end(update.chat_id, track_id))
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)

    async def _verify_early_end(self, chat_id: int, track_id: str) -> None:
        """A very short track really ends early: believe it once the call is idle."""
        await asyncio.sleep(self.verify_delay)
        from pytgcalls.types import Call

        try:
            call = (await self._calls.calls).get(chat_id)
        except Exception:
            log.warning("cannot check the call state of %s", chat_id, exc_info=True)
            return
        if call is not None and call.playback == Call.Status.IDLE:
            event = self.translator.confirm_end(chat_id, track_id)
            if event is not None:
                self._mark_ended(chat_id)
                self._events.emit(event)

    def _mark_ended(self, chat_id: int) -> None:
        playing = self._playing.get(chat_id)
        if playing is not None:
            playing.ended = True

    # -- the VoiceEngine calls -------------------------------------------------------------

    def _lock(self, chat_id: int) -> asyncio.Lock:
        return self._locks.setdefault(chat_id, asyncio.Lock())

    def _config(self) -> Any:
        from pytgcalls.types import GroupCallConfig

        return GroupCallConfig(auto_start=self._start_video_chat)

    async def _call(self, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except EngineError:
            raise
        except Exception as exc:
            mapped = map_error(exc)
            if mapped is None:
                log.exception("voice engine call failed")
                raise EngineError("the voice chat failed") from exc
            raise mapped from exc

    async def _join_group(self, chat_id: int) -> None:
        from pyrogram import errors

        try:
            link = await self._invite_link(chat_id)
        except Exception as exc:
            raise NotAllowed(
                "the assistant is not in this group and the bot cannot invite it "
                "(make the bot an admin allowed to invite users)",
                code=ErrorCode.NOT_MEMBER,
            ) from exc
        try:
            await self._client.join_chat(link)
        except errors.UserAlreadyParticipant:
            pass  # joined meanwhile (or the peer was only missing from the session cache)
        except Exception as exc:
            raise map_error(exc) or NotAllowed(
                "the assistant could not join the group", code=ErrorCode.NOT_MEMBER
            ) from exc

    async def preload(self, chat_id: int, request: PlayRequest | None) -> None:
        """Builds the next track's stream and runs py-tgcalls' probe of it (ffprobe, the
        slow part of ``play`` before audio flows) in the background; a ``play`` of the
        same request takes that stream and skips the probe."""
        self._preloads.start(chat_id, request)

    async def _start_stream(self, request: PlayRequest, position: float) -> None:
        stream = await self._preloads.take(request, position) or build_stream(request, position)
        try:
            await self._calls.play(request.chat_id, stream, self._config())
        except NOT_A_MEMBER:
            await self._join_group(request.chat_id)
            again = build_stream(request, position)
            await self._call(self._calls.play(request.chat_id, again, self._config()))
        except Exception as exc:
            mapped = map_error(exc)
            if mapped is None:
                log.exception("starting the stream failed")
            raise mapped or EngineError("the voice chat failed") from exc
        self.translator.started(
            request.chat_id,
            request.track_id,
            video=request.video is not None,
            has_audio=request.has_audio,
        )
        self._playing[request.chat_id] = _Playing(request, position)

    async def play(self, request: PlayRequest) -> None:
        async with self._lock(request.chat_id):
            first = request.chat_id not in self._playing
            await self._start_stream(request, max(0.0, request.position))
            if request.volume != 100:
                await self._call(self._calls.change_volume_call(request.chat_id, request.volume))
            if first:
                await self._refresh_listeners(request.chat_id)

    async def pause(self, chat_id: int) -> None:
        if chat_id in self._playing:
            await self._call(self._calls.pause(chat_id))

    async def resume(self, chat_id: int) -> None:
        if chat_id in self._playing:
            await self._call(self._calls.resume(chat_id))

    async def stop(self, chat_id: int) -> None:
        from pytgcalls import exceptions

        async with self._lock(chat_id):
            self._playing.pop(chat_id, None)
            self._preloads.drop(chat_id)
            self.translator.forget(chat_id)
            try:
                await self._calls.leave_call(chat_id)
            except (exceptions.NotInCallError, exceptions.NoActiveGroupCall):
                pass  # not in a call (any more): stopping is done
            except Exception as exc:
                raise map_error(exc) or EngineError("leaving the voice chat failed") from exc

    async def set_volume(self, chat_id: int, volume: int) -> None:
        if chat_id in self._playing:
            await self._call(
                self._calls.change_volume_call(chat_id, max(VOLUME_MIN, min(VOLUME_MAX, volume)))
            )

    async def seek(self, chat_id: int, position: float) -> None:
        async with self._lock(chat_id):
            playing = self._playing.get(chat_id)
            if playing is None or playing.ended:
                return
            if playing.request.is_live:
                raise MediaError("a live stream cannot be seeked")
            await self._start_stream(playing.request, max(0.0, position))

    async def position(self, chat_id: int) -> float | None:
        playing = self._playing.get(chat_id)
        if playing is None or playing.ended:
            return None
        try:
            played = await self._calls.time(chat_id)
        except Exception:
            return None
        # py-tgcalls counts the seconds it streamed; at speed S each is S of the track
        return playing.offset + rate(playing.request) * float(played)

    async def listeners(self, chat_id: int) -> int | None:
        if chat_id not in self._playing:
            return None
        return await self._refresh_listeners(chat_id)

    async def _refresh_listeners(self, chat_id: int) -> int | None:
        try:
            participants = await self._calls.get_participants(chat_id)
        except Exception:
            log.warning("cannot list the participants of %s", chat_id, exc_info=True)
            return None
        ids = {p.user_id for p in participants or ()}
        changed = self.translator.set_participants(chat_id, ids)
        if changed is not None:
            self._events.emit(changed)
        return len(ids - {self.translator.my_user_id})

    def active_chats(self) -> list[int]:
        return list(self._playing)

    @property
    def user_id(self) -> int | None:
        """The assistant account's Telegram id (known once started); the pool unbans it."""
        return self.translator.my_user_id

    async def leave_chat(self, chat_id: int) -> None:
        """Leaves the group itself (the pool frees room after ``CHANNELS_TOO_MUCH``)."""
        await self.stop(chat_id)
        await self._call(self._client.leave_chat(chat_id))

    async def healthy(self) -> bool:
        return self._calls is not None and bool(getattr(self._client, "is_connected", False))

    def message_readers(self, chat_id: int | None) -> list[MessageReader]:
        return [self.messages]
