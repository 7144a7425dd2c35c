"""Relational schema (SQLAlchemy 2).  Alembic migrations in ``migrations/`` mirror it.

BigInteger for Telegram ids: supergroup ids exceed 32 bits.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Chat(Base):
    """Per-chat settings.  A row appears the first time the bot acts in a chat."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(256), default="")
    # a public chat's @username (without the @): the dashboard links t.me/<username>
    username: Mapped[str | None] = mapped_column(String(64), default=None)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    admin_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: the configured player.auto_end_seconds; 0: never auto-end
    auto_end_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    always_on: Mapped[bool] = mapped_column(Boolean, default=False)  # 24/7 mode
    # the 24/7 playlist plays picture and sound, fitted into the chat's video quality
    playlist_video: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # 24/7 playlist: one URL, library name or folder per line
    playlist: Mapped[str] = mapped_column(Text, default="")
    volume: Mapped[int] = mapped_column(Integer, default=100)
    # /speed: tempo of every track but a live one (bot.domain.policy.SPEED_MIN..SPEED_MAX)
    speed: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    # /vplay's bounding box ("720p"...); None: the configured player.video_quality
    video_quality: Mapped[str | None] = mapped_column(String(8), default=None)
    # the engine this chat streams through ("rtmp"); None: the configured engine.kind
    engine: Mapped[str | None] = mapped_column(String(16), default=None)
    rtmp_url: Mapped[str] = mapped_column(Text, default="", server_default="")
    # a secret: never shown in the panel, an export, a log or an audit row
    rtmp_key: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    authorized: Mapped[list[AuthorizedUser]] = relationship(
        back_populates="chat", cascade="all, delete-orphan"
    )

    def __str__(self) -> str:
        return f"{self.title or 'chat'} ({self.id})"


class AuthorizedUser(Base):
    """Users a chat's admins allowed to control playback in that chat."""

    __tablename__ = "authorized_users"
    __table_args__ = (UniqueConstraint("chat_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("chats.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(256), default="")
    added_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    chat: Mapped[Chat] = relationship(back_populates="authorized")

    def __str__(self) -> str:
        return f"{self.name or self.user_id} in {self.chat_id}"


class PlayHistory(Base):
    __tablename__ = "play_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    track_id: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    requested_by_name: Mapped[str] = mapped_column(String(256), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    end_reason: Mapped[str | None] = mapped_column(String(16), default=None)


class HourlyStats(Base):
    """One hour of the dashboard's history (``bot.storage.rollup``): a node's sampled live
    figures, or (``node`` empty) the hour's plays, failures and chats from the play history.

    ``hour`` is the Unix time the UTC hour began; the ``*_seconds`` columns integrate the
    samples (listeners x seconds), so an average is that over the hour's length.
    """

    __tablename__ = "stats_hourly"

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    node: Mapped[str] = mapped_column(String(128), primary_key=True)
    stream_peak: Mapped[int] = mapped_column(Integer, default=0)
    listener_peak: Mapped[int] = mapped_column(Integer, default=0)
    stream_seconds: Mapped[float] = mapped_column(Double, default=0.0)
    listener_seconds: Mapped[float] = mapped_column(Double, default=0.0)
    plays: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    chats: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[float] = mapped_column(Double)


class WebAdmin(Base):
    __tablename__ = "web_admins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))  # argon2; never shown
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    def __str__(self) -> str:
        return self.username


class WebSession(Base):
    """A logged-in panel session: the cookie names one row by a random token (stored here
    only as its SHA-256).  Deleting the row ends the session wherever its cookie went:
    logout, a password change and the admin's removal do."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the token
    admin_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("web_admins.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))  # "web:alice", "tg:123", "system"
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    before: Mapped[str] = mapped_column(Text, default="")  # JSON
    after: Mapped[str] = mapped_column(Text, default="")  # JSON


class QueueChatState(Base):
    """One row per chat that ever had a queue: its loop mode, and on PostgreSQL the row
    every change to the chat's queue writes first, which puts concurrent statements on one
    chat in order (``bot.storage.pg_queue``).  ``next_seq`` hands out the ordering keys of
    ``queue_entries`` there; the SQLite store, whose writes BEGIN IMMEDIATE already puts in
    order, takes the key above the chat's highest instead and leaves it alone.
    """

    __tablename__ = "queue_chats"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    loop_mode: Mapped[str] = mapped_column(String(8), default="off")
    next_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class QueueEntry(Base):
    """A pending track.  ``seq`` orders a chat's entries: a new one goes above every
    pending one (see ``QueueChatState``)."""

    __tablename__ = "queue_entries"
    __table_args__ = (UniqueConstraint("chat_id", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # no separate index on chat_id: the (chat_id, seq) unique index serves its lookups
    chat_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("queue_chats.chat_id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    track_id: Mapped[str] = mapped_column(String(32))
    track_json: Mapped[str] = mapped_column(Text)


class QueueNowPlaying(Base):
    """The now-playing slot of a chat; times are Unix seconds, as in ``NowPlaying``."""

    __tablename__ = "queue_now_playing"

    # on SQLite the rowid itself (migration 0011): no index beside the table to write
    chat_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("queue_chats.chat_id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    track_id: Mapped[str] = mapped_column(String(32))
    track_json: Mapped[str] = mapped_column(Text)
    started_at: Mapped[float] = mapped_column(Double)
    position: Mapped[float] = mapped_column(Double, default=0.0)
    updated_at: Mapped[float] = mapped_column(Double)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)


class Channel(Base):
    """A channel Sattva streams into, and the group whose commands drive it (if any).

    A row appears when a group links the channel (``/channelplay``) or when the channel's
    administrators post a command in it; it stays when the group unlinks (``group_id``
    NULL), so the bot still knows the chat is a channel and never posts cards there.  A
    channel is driven from one group at a time (``group_id`` is unique)."""

    __tablename__ = "channels"

    channel_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("chats.id", ondelete="SET NULL"), unique=True, default=None
    )
    linked_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    linked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    channel: Mapped[Chat] = relationship(foreign_keys=[channel_id])
    group: Mapped[Chat | None] = relationship(foreign_keys=[group_id])

    def __str__(self) -> str:
        return f"channel {self.channel_id}"


class ChatAssistant(Base):
    """Which assistant account serves a chat (the pool's assignment; first writer wins).

    A row survives restarts so a chat keeps the account that already joined it; a move
    (flood wait, ban, channel limit) rewrites it only if it still names the old account.
    """

    __tablename__ = "chat_assistants"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    assistant: Mapped[str] = mapped_column(String(32))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ClusterFence(Base):
    """The newest fencing token of each lease (cluster mode, queues in PostgreSQL).

    A node writes the token of a lease it has just taken here before it touches the chats
    the lease guards; every queue statement of those chats compares its own token with this
    row (``sattva_fence``, created by migration 0006) and fails when a newer holder wrote
    one, so a node paused past its lease cannot change a queue when it wakes up.
    """

    __tablename__ = "cluster_fences"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)


class SavedPlaylist(Base):
    """A user's saved playlist (/playlist).  ``key`` is the name case-folded: names are
    matched without regard to case, and one user has one playlist per key."""

    __tablename__ = "saved_playlists"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    tracks: Mapped[list[SavedPlaylistTrack]] = relationship(
        back_populates="playlist", cascade="all, delete-orphan", passive_deletes=True
    )

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"


class SavedPlaylistTrack(Base):
    """One track of a saved playlist, in ``id`` order: where it came from (a page, a media
    URL or ``lib:name``), never the stream address it had (those expire)."""

    __tablename__ = "saved_playlist_tracks"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    playlist_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("saved_playlists.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Double, default=None)
    is_live: Mapped[bool] = mapped_column(Boolean, default=False)
    # queued with /vplay: played back as video, in the box of the chat it is played in
    video: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    playlist: Mapped[SavedPlaylist] = relationship(back_populates="tracks")
