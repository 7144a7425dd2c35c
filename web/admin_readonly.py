"""Views of rows the panel never changes: the bot writes them (history, the assistant pool,
users' playlists) or the audit does.  Kept apart so the editable, audited views read on
their own; these need only the 404 rule, not the audit hooks."""

from __future__ import annotations

from typing import Any, ClassVar

from bot.storage.orm import (
    AuditLog,
    ChatAssistant,
    PlayHistory,
    SavedPlaylist,
    SavedPlaylistTrack,
)
from web.admin_base import PanelView


class ReadOnlyView(PanelView):
    """No create, edit or delete: the panel only shows (and some views export) these rows."""

    can_create = False
    can_edit = False
    can_delete = False


class PlayHistoryAdmin(ReadOnlyView, model=PlayHistory):
    name = "Play history"
    name_plural = "Play history"
    icon = "fa-solid fa-clock-rotate-left"
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


class ChatAssistantAdmin(ReadOnlyView, model=ChatAssistant):
    """Which assistant account serves each chat (the pool moves chats by itself)."""

    name = "Chat assistant"
    name_plural = "Chat assistants"
    icon = "fa-solid fa-user-astronaut"
    column_list: ClassVar[Any] = [
        ChatAssistant.chat_id,
        ChatAssistant.assistant,
        ChatAssistant.assigned_at,
    ]
    column_searchable_list: ClassVar[Any] = [ChatAssistant.assistant]
    column_default_sort: ClassVar[Any] = (ChatAssistant.assigned_at, True)


class AuditLogAdmin(ReadOnlyView, model=AuditLog):
    name = "Audit entry"
    name_plural = "Audit log"
    icon = "fa-solid fa-list-check"
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


class SavedPlaylistAdmin(ReadOnlyView, model=SavedPlaylist):
    """Users' saved playlists (/playlist), read-only: they are the users' own; the bot's
    commands change them, the panel shows them."""

    name = "Saved playlist"
    name_plural = "Saved playlists"
    icon = "fa-solid fa-list-ol"
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


class SavedPlaylistTrackAdmin(ReadOnlyView, model=SavedPlaylistTrack):
    name = "Saved playlist track"
    name_plural = "Saved playlist tracks"
    icon = "fa-solid fa-music"
    can_export = True
    column_list: ClassVar[Any] = [
        SavedPlaylistTrack.id,
        SavedPlaylistTrack.playlist,
        SavedPlaylistTrack.title,
        SavedPlaylistTrack.source,
        SavedPlaylistTrack.duration,
    ]
    column_searchable_list: ClassVar[Any] = [SavedPlaylistTrack.title, SavedPlaylistTrack.source]
