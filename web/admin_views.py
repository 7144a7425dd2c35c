"""sqladmin views over the ORM models.  Every change made here leaves an audit row."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar, cast

from sqladmin import ModelView
from sqladmin.helpers import object_identifier_values
from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request
from wtforms import Form, PasswordField, validators

from bot.domain.policy import VOLUME_MAX, VOLUME_MIN
from bot.domain.video import QUALITIES
from bot.storage.admins import AdminError, check_username, end_sessions_of, hash_password
from bot.storage.orm import (
    AuditLog,
    AuthorizedUser,
    Channel,
    Chat,
    ChatAssistant,
    PlayHistory,
    SavedPlaylist,
    SavedPlaylistTrack,
    WebAdmin,
)
from web.audit import actor_of, diff, record, row_values

_BEFORE = "sattva_audit_before"
# Every integer key column is at most 64 bits; a larger number is no row (and would make
# the database driver raise instead of finding nothing).
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class PanelView(ModelView):
    """A view whose pages are addressed by a key from the URL: a key that cannot be one of
    this model's (not a number, out of range) is "not found", not an error."""

    def _key_or_404(self, identifier: Any) -> None:
        try:
            values = object_identifier_values(str(identifier), self.model)
        except (ValueError, TypeError, OverflowError):
            raise HTTPException(status_code=404) from None
        if any(isinstance(v, int) and not _INT64_MIN <= v <= _INT64_MAX for v in values):
            raise HTTPException(status_code=404)

    def details_query(self, request: Request) -> Select[Any]:
        self._key_or_404(request.path_params["pk"])
        return super().details_query(request)

    def form_edit_query(self, request: Request) -> Select[Any]:
        self._key_or_404(request.path_params["pk"])
        return super().form_edit_query(request)

    async def get_object_for_delete(self, value: Any) -> Any:
        self._key_or_404(value)
        return await super().get_object_for_delete(value)


class AuditedView(PanelView):
    """Records create/update/delete through sqladmin's model hooks."""

    # Columns never written to the audit log (password hashes).
    audit_exclude: ClassVar[frozenset[str]] = frozenset()
    # the column that names a row in the audit log
    audit_key: ClassVar[str] = "id"

    def _entity(self) -> str:
        return str(getattr(self.model, "__tablename__", self.identity))

    def _sessions(self) -> async_sessionmaker[AsyncSession]:
        return cast(async_sessionmaker[AsyncSession], self.session_maker)

    async def on_model_change(
        self, data: dict[str, Any], model: Any, is_created: bool, request: Request
    ) -> None:
        before = {} if is_created else row_values(model, self.audit_exclude)
        setattr(request.state, _BEFORE, before)

    async def after_model_change(
        self, data: dict[str, Any], model: Any, is_created: bool, request: Request
    ) -> None:
        before_all: dict[str, Any] = getattr(request.state, _BEFORE, {})
        after_all = row_values(model, self.audit_exclude)
        before, after = (before_all, after_all) if is_created else diff(before_all, after_all)
        after.update(self.audit_extra(data))
        await record(
            self._sessions(),
            actor=actor_of(request),
            action="create" if is_created else "update",
            entity=self._entity(),
            entity_id=str(after_all.get(self.audit_key, "")),
            before=before,
            after=after,
        )

    def audit_extra(self, data: dict[str, Any]) -> dict[str, Any]:
        """Facts to log that are not columns (e.g. that a password was set)."""
        return {}

    async def on_model_delete(self, model: Any, request: Request) -> None:
        pending: dict[int, dict[str, Any]] = getattr(request.state, _BEFORE + "_del", {})
        pending[id(model)] = row_values(model, self.audit_exclude)
        setattr(request.state, _BEFORE + "_del", pending)

    async def after_model_delete(self, model: Any, request: Request) -> None:
        pending: dict[int, dict[str, Any]] = getattr(request.state, _BEFORE + "_del", {})
        before = pending.pop(id(model), {})
        await record(
            self._sessions(),
            actor=actor_of(request),
            action="delete",
            entity=self._entity(),
            entity_id=str(before.get(self.audit_key, "")),
            before=before,
            after={},
        )


class StreamKeyForm(Form):
    """The panel's only way to a chat's RTMP stream key: typed here, never shown back."""

    rtmp_key_new = PasswordField(
        "RTMP stream key",
        description="Leave empty to keep the current key; it is never shown.",
    )


class ChatAdmin(AuditedView, model=Chat):
    name = "Chat"
    name_plural = "Chats"
    icon = "fa-solid fa-comments"
    can_create = False  # a chat's row appears when the bot first acts there
    can_delete = False
    # the stream key is a secret: not in the audit log, the details page or an export
    audit_exclude = frozenset({"rtmp_key"})
    column_details_exclude_list: ClassVar[Any] = [Chat.rtmp_key]
    column_export_exclude_list: ClassVar[Any] = [Chat.rtmp_key]
    form_base_class = StreamKeyForm
    column_list: ClassVar[Any] = [
        Chat.id,
        Chat.title,
        Chat.language,
        Chat.admin_only,
        Chat.auto_end_minutes,
        Chat.always_on,
        Chat.playlist_video,
        Chat.volume,
        Chat.video_quality,
        Chat.engine,
        Chat.updated_at,
    ]
    column_searchable_list: ClassVar[Any] = [Chat.title]
    column_sortable_list: ClassVar[Any] = [Chat.id, Chat.title, Chat.updated_at]
    form_columns: ClassVar[Any] = [
        Chat.title,
        Chat.language,
        Chat.admin_only,
        Chat.auto_end_minutes,
        Chat.always_on,
        Chat.playlist,
        Chat.playlist_video,
        Chat.volume,
        Chat.video_quality,
        Chat.engine,
        Chat.rtmp_url,
    ]
    # set per app by ``chat_admin_view``; None leaves stale settings to the cache's TTL
    forget_chat_settings: ClassVar[Callable[[int], None] | None] = None

    async def after_model_change(
        self, data: dict[str, Any], model: Any, is_created: bool, request: Request
    ) -> None:
        forget = type(self).forget_chat_settings
        if forget is not None:
            forget(int(model.id))
        await super().after_model_change(data, model, is_created, request)

    async def on_model_change(
        self, data: dict[str, Any], model: Any, is_created: bool, request: Request
    ) -> None:
        await super().on_model_change(data, model, is_created, request)
        key = str(data.pop("rtmp_key_new", None) or "")
        if key:
            data["rtmp_key"] = key
        if data.get("engine") == "rtmp" and not (data.get("rtmp_url") and (key or model.rtmp_key)):
            raise ValueError("engine rtmp needs an rtmp:// or rtmps:// URL and a stream key")

    def audit_extra(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"rtmp_key": "(set)"} if data.get("rtmp_key") else {}

    form_args: ClassVar[dict[str, dict[str, Any]]] = {
        "language": {
            "validators": [validators.Optional(), validators.AnyOf(["en", "ru", "uk"])],
            "description": "en, ru or uk; empty: the configured default",
        },
        "auto_end_minutes": {
            "validators": [validators.Optional(), validators.NumberRange(min=0, max=24 * 60)],
            "description": "empty: the configured default; 0: never end automatically",
        },
        "volume": {"validators": [validators.NumberRange(min=VOLUME_MIN, max=VOLUME_MAX)]},
        "playlist": {"description": "24/7 playlist: one URL, library name or folder per line"},
        "playlist_video": {
            "description": "the 24/7 playlist plays picture and sound, in the video quality below"
        },
        "video_quality": {
            "validators": [validators.Optional(), validators.AnyOf(list(QUALITIES))],
            "description": "/vplay's quality: 360p, 480p, 720p, 1080p; empty: the default",
        },
        "engine": {
            "validators": [validators.Optional(), validators.AnyOf(["rtmp"])],
            "description": "rtmp: stream to the RTMP URL and key below; empty: engine.kind",
        },
        "rtmp_url": {
            "validators": [validators.Optional(), validators.Regexp(r"^rtmps?://[^/\s]+")],
            "description": "rtmp:// or rtmps:// URL of the chat's RTMP stream",
        },
    }


class AuthorizedUserAdmin(AuditedView, model=AuthorizedUser):
    name = "Authorised user"
    name_plural = "Authorised users"
    icon = "fa-solid fa-user-check"
    column_list: ClassVar[Any] = [
        AuthorizedUser.id,
        AuthorizedUser.chat_id,
        AuthorizedUser.user_id,
        AuthorizedUser.name,
        AuthorizedUser.added_by,
        AuthorizedUser.created_at,
    ]
    column_searchable_list: ClassVar[Any] = [AuthorizedUser.name]
    form_columns: ClassVar[Any] = [
        AuthorizedUser.chat,
        AuthorizedUser.user_id,
        AuthorizedUser.name,
    ]


class ChannelAdmin(AuditedView, model=Channel):
    """Channels and the group that drives each (``/channelplay``).  Here an operator links
    without Telegram's checks (the panel is trusted); a channel's own settings and 24/7
    playlist are its row under Chats."""

    name = "Channel"
    name_plural = "Channels"
    icon = "fa-solid fa-tower-broadcast"
    audit_key = "channel_id"
    column_list: ClassVar[Any] = [
        Channel.channel_id,
        Channel.channel,
        Channel.group_id,
        Channel.group,
        Channel.linked_by,
        Channel.linked_at,
    ]
    column_sortable_list: ClassVar[Any] = [Channel.channel_id, Channel.linked_at]
    form_columns: ClassVar[Any] = [Channel.channel, Channel.group]
    form_args: ClassVar[dict[str, dict[str, Any]]] = {
        "channel": {"validators": [validators.InputRequired()]},
        "group": {"description": "the group whose commands drive it; empty: none"},
    }
    # set per app by ``channel_admin_view``; None leaves the bot's snapshot to its TTL
    forget_channels: ClassVar[Callable[[], None] | None] = None

    async def after_model_change(
        self, data: dict[str, Any], model: Any, is_created: bool, request: Request
    ) -> None:
        self._forget()
        await super().after_model_change(data, model, is_created, request)

    async def after_model_delete(self, model: Any, request: Request) -> None:
        self._forget()
        await super().after_model_delete(model, request)

    def _forget(self) -> None:
        forget = type(self).forget_channels
        if forget is not None:
            forget()

    # a group drives one channel at a time (unique): the database's refusal, said in words
    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        try:
            return await super().insert_model(request, data)
        except IntegrityError:
            raise _group_taken() from None

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        try:
            return await super().update_model(request, pk, data)
        except IntegrityError:
            raise _group_taken() from None


def _group_taken() -> AdminError:
    return AdminError("that group already drives another channel, or that channel is listed")


class PlayHistoryAdmin(PanelView, model=PlayHistory):
    name = "Play history"
    name_plural = "Play history"
    icon = "fa-solid fa-clock-rotate-left"
    can_create = False
    can_edit = False
    can_delete = False
    can_export = True
    column_list: ClassVar[Any] = [
        PlayHistory.started_at,
        PlayHistory.chat_id,
        PlayHistory.title,
        PlayHistory.kind,
        PlayHistory.requested_by_name,
        PlayHistory.end_reason,
    ]
    column_searchable_list: ClassVar[Any] = [
        PlayHistory.title,
        PlayHistory.source,
        PlayHistory.requested_by_name,
    ]
    column_default_sort: ClassVar[Any] = (PlayHistory.started_at, True)


class ChatAssistantAdmin(PanelView, model=ChatAssistant):
    """Which assistant account serves each chat (the pool moves chats by itself)."""

    name = "Chat assistant"
    name_plural = "Chat assistants"
    icon = "fa-solid fa-user-astronaut"
    can_create = False
    can_edit = False
    can_delete = False
    column_list: ClassVar[Any] = [
        ChatAssistant.chat_id,
        ChatAssistant.assistant,
        ChatAssistant.assigned_at,
    ]
    column_searchable_list: ClassVar[Any] = [ChatAssistant.assistant]
    column_default_sort: ClassVar[Any] = (ChatAssistant.assigned_at, True)


class PasswordForm(Form):
    """The admin form's only way to a password: typed here, stored as an argon2 hash."""

    password = PasswordField(
        "Password",
        description="At least 8 characters. Leave empty when editing to keep the current one.",
    )


class WebAdminAdmin(AuditedView, model=WebAdmin):
    name = "Web admin"
    name_plural = "Web admins"
    icon = "fa-solid fa-user-shield"
    audit_exclude = frozenset({"password_hash"})
    can_export = False
    column_list: ClassVar[Any] = [
        WebAdmin.id,
        WebAdmin.username,
        WebAdmin.created_at,
        WebAdmin.last_login_at,
    ]
    column_details_exclude_list: ClassVar[Any] = [WebAdmin.password_hash]
    column_searchable_list: ClassVar[Any] = [WebAdmin.username]
    form_columns: ClassVar[Any] = [WebAdmin.username]
    form_base_class = PasswordForm

    async def on_model_change(
        self, data: dict[str, Any], model: Any, is_created: bool, request: Request
    ) -> None:
        await super().on_model_change(data, model, is_created, request)
        password = data.pop("password", None) or ""
        data["username"] = check_username(str(data.get("username") or ""))
        if password:
            # off the event loop: argon2 is slow on purpose
            data["password_hash"] = await asyncio.to_thread(hash_password, password)
        elif is_created:
            raise ValueError("a new admin needs a password")

    async def after_model_change(
        self, data: dict[str, Any], model: Any, is_created: bool, request: Request
    ) -> None:
        if "password_hash" in data and not is_created:
            # a new password ends the admin's sessions (the editor's own one included)
            async with self._sessions()() as session, session.begin():
                await end_sessions_of(session, int(model.id))
        await super().after_model_change(data, model, is_created, request)

    def audit_extra(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"password": "(set)"} if "password_hash" in data else {}

    # The name is unique in the table: the database's refusal, said in words.
    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        try:
            return await super().insert_model(request, data)
        except IntegrityError:
            raise _name_taken(data) from None

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        try:
            return await super().update_model(request, pk, data)
        except IntegrityError:
            raise _name_taken(data) from None


def _name_taken(data: dict[str, Any]) -> AdminError:
    return AdminError(f"an admin named {data.get('username')} exists already")


class AuditLogAdmin(PanelView, model=AuditLog):
    name = "Audit entry"
    name_plural = "Audit log"
    icon = "fa-solid fa-list-check"
    can_create = False
    can_edit = False
    can_delete = False
    can_export = True
    column_list: ClassVar[Any] = [
        AuditLog.at,
        AuditLog.actor,
        AuditLog.action,
        AuditLog.entity,
        AuditLog.entity_id,
        AuditLog.before,
        AuditLog.after,
    ]
    column_searchable_list: ClassVar[Any] = [
        AuditLog.actor,
        AuditLog.action,
        AuditLog.entity,
        AuditLog.entity_id,
    ]
    column_default_sort: ClassVar[Any] = (AuditLog.at, True)


class SavedPlaylistAdmin(PanelView, model=SavedPlaylist):
    """Users' saved playlists (/playlist), read-only: they are the users' own; the bot's
    commands change them, the panel shows them."""

    name = "Saved playlist"
    name_plural = "Saved playlists"
    icon = "fa-solid fa-list-ol"
    can_create = False
    can_edit = False
    can_delete = False
    can_export = True
    column_list: ClassVar[Any] = [
        SavedPlaylist.id,
        SavedPlaylist.user_id,
        SavedPlaylist.name,
        SavedPlaylist.created_at,
        SavedPlaylist.updated_at,
    ]
    column_searchable_list: ClassVar[Any] = [SavedPlaylist.name, SavedPlaylist.user_id]
    column_default_sort: ClassVar[Any] = (SavedPlaylist.updated_at, True)
    column_details_exclude_list: ClassVar[Any] = [SavedPlaylist.key]


class SavedPlaylistTrackAdmin(PanelView, model=SavedPlaylistTrack):
    name = "Saved playlist track"
    name_plural = "Saved playlist tracks"
    icon = "fa-solid fa-music"
    can_create = False
    can_edit = False
    can_delete = False
    can_export = True
    column_list: ClassVar[Any] = [
        SavedPlaylistTrack.id,
        SavedPlaylistTrack.playlist,
        SavedPlaylistTrack.title,
        SavedPlaylistTrack.source,
        SavedPlaylistTrack.duration,
    ]
    column_searchable_list: ClassVar[Any] = [SavedPlaylistTrack.title, SavedPlaylistTrack.source]


MODEL_VIEWS: tuple[type[ModelView], ...] = (
    ChatAdmin,
    AuthorizedUserAdmin,
    PlayHistoryAdmin,
    ChatAssistantAdmin,
    SavedPlaylistAdmin,
    SavedPlaylistTrackAdmin,
    ChannelAdmin,
    WebAdminAdmin,
    AuditLogAdmin,
)


def channel_admin_view(forget_channels: Callable[[], None]) -> type[ChannelAdmin]:
    """``ChannelAdmin`` bound to one app's channel snapshot (see ``chat_admin_view``)."""
    attrs = {"forget_channels": staticmethod(forget_channels)}
    return cast(type[ChannelAdmin], type("ChannelAdmin", (ChannelAdmin,), attrs))


def chat_admin_view(forget_chat_settings: Callable[[int], None]) -> type[ChatAdmin]:
    """``ChatAdmin`` bound to one app's settings cache (a subclass, so two apps in one
    process, as in tests, do not share it)."""
    attrs = {"forget_chat_settings": staticmethod(forget_chat_settings)}
    return cast(type[ChatAdmin], type("ChatAdmin", (ChatAdmin,), attrs))
