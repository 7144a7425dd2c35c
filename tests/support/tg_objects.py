"""Telegram objects as the Bot API sends them: users, chats, members, and updates for the
fake Bot API's getUpdates (``UpdateFactory``), with unique ids like Telegram's."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.fake_botapi import FakeBotAPI


def user(user_id: int, name: str = "", *, language_code: str | None = "en") -> dict[str, Any]:
    data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": name or f"U{user_id}"}
    if language_code:
        data["language_code"] = language_code
    return data


def chat(chat_id: int) -> dict[str, Any]:
    if chat_id < 0:
        return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}
    return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}


def channel_chat(chat_id: int, title: str, username: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": chat_id, "type": "channel", "title": title}
    if username:
        data["username"] = username
    return data


def admin(user_data: dict[str, Any], *, can_manage_video_chats: bool = True) -> dict[str, Any]:
    return {
        "status": "administrator",
        "user": user_data,
        "can_be_edited": False,
        "is_anonymous": False,
        "can_manage_chat": True,
        "can_delete_messages": True,
        "can_manage_video_chats": can_manage_video_chats,
        "can_restrict_members": True,
        "can_promote_members": False,
        "can_change_info": True,
        "can_invite_users": True,
        "can_post_stories": False,
        "can_edit_stories": False,
        "can_delete_stories": False,
        "can_send_welcome_messages": False,
    }


def creator(user_data: dict[str, Any]) -> dict[str, Any]:
    return {"status": "creator", "user": user_data, "is_anonymous": False}


def member(user_data: dict[str, Any]) -> dict[str, Any]:
    return {"status": "member", "user": user_data}


class UpdateFactory:
    """Builds updates with unique message ids, as Telegram would send them."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api

    def message(
        self,
        chat_id: int,
        from_user: dict[str, Any],
        text: str | None = None,
        *,
        reply_to: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": self.api.next_id(),
            "date": int(time.time()),
            "chat": chat(chat_id),
            "from": from_user,
            **extra,
        }
        if text is not None:
            msg["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        return {"message": msg}

    def channel_post(self, channel: dict[str, Any], text: str) -> dict[str, Any]:
        """A post in ``channel`` (a ``channel_chat``) by one of its administrators: no
        ``from``, the channel as ``sender_chat``.  The fake keeps it, so the bot can
        delete it."""
        post: dict[str, Any] = {
            "message_id": self.api.next_id(),
            "date": int(time.time()),
            "chat": channel,
            "sender_chat": channel,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            post["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self.api.keep(channel["id"], post["message_id"], text)
        return {"channel_post": post}

    def audio_message(
        self,
        chat_id: int,
        from_user: dict[str, Any],
        file_id: str,
        *,
        title: str | None = None,
        performer: str | None = None,
        duration: int = 2,
        file_size: int = 0,
        mime_type: str = "audio/mpeg",
        file_name: str = "track.mp3",
    ) -> dict[str, Any]:
        audio: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "duration": duration,
            "mime_type": mime_type,
            "file_name": file_name,
            "file_size": file_size,
        }
        if title:
            audio["title"] = title
        if performer:
            audio["performer"] = performer
        return self.message(chat_id, from_user, audio=audio)["message"]  # type: ignore[no-any-return]

    def callback(
        self,
        chat_id: int,
        from_user: dict[str, Any],
        data: str,
        *,
        message_id: int,
    ) -> dict[str, Any]:
        stored = self.api.messages.get((chat_id, message_id))
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat(chat_id),
            "from": self.api.bot_user,
            "text": stored.text if stored else "",
        }
        return {
            "callback_query": {
                "id": str(self.api.next_id()),
                "from": from_user,
                "chat_instance": str(chat_id),
                "message": message,
                "data": data,
            }
        }

    def chat_member(
        self,
        chat_id: int,
        actor: dict[str, Any],
        old: dict[str, Any],
        new: dict[str, Any],
        *,
        about_the_bot: bool = False,
    ) -> dict[str, Any]:
        """A ``chat_member`` update (``my_chat_member`` when it is about the bot itself)."""
        return {
            "my_chat_member" if about_the_bot else "chat_member": {
                "chat": chat(chat_id),
                "from": actor,
                "date": int(time.time()),
                "old_chat_member": old,
                "new_chat_member": new,
            }
        }
