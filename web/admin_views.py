"""sqladmin views over the ORM models.  Every change made here leaves an audit row."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar, cast

from sqladmin import ModelView
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from wtforms import Form, PasswordField, validators

from bot.domain.policy import VOLUME_MAX, VOLUME_MIN
from bot.domain.video import QUALITIES
from bot.storage.admins import AdminError, check_username, end_sessions_of, hash_password
from bot.storage.orm import AuthorizedUser, Channel, Chat, WebAdmin
from web.admin_base import AuditedView
from web.admin_readonly import (
    AuditLogAdmin,
    ChatAssistantAdmin,
    PlayHistoryAdmin,
    SavedPlaylistAdmin,
    SavedPlaylistTrackAdmin,
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
