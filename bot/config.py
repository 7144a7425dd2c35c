"""Configuration: a TOML file overlaid by ``SATTVA_<SECTION>__<KEY>`` environment variables.

Validated once at start so that a typo fails fast with one line naming the key, instead of
surfacing as a strange error an hour later.  Secrets are ``SecretStr`` so that they never
reach a log line or an error message by accident.
"""

from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config_accounts import (
    DEFAULT_ASSISTANT_NAME,
    AssistantConfig,
    AssistantEntry,
    Section,
    TelegramConfig,
)
from bot.config_rules import CROSS_FIELD_RULES
from bot.domain.policy import VOLUME_MAX, VOLUME_MIN, PlayerPolicy
from bot.storage.redis_wire import Endpoint

DEFAULT_CONFIG_PATH = "config.toml"
ENV_CONFIG_PATH = "SATTVA_CONFIG"


class ConfigError(Exception):
    """A configuration problem, phrased as the one line the operator will read."""


class ClusterConfig(Section):
    enabled: bool = False
    node_id: str = ""  # empty: host name + pid
    # an assistant's lease (and a node's heartbeat) lasts this long unless renewed (every
    # third of it): a dead node's assistants move after at most this, plus a renewal round
    lease_seconds: float = Field(default=15.0, ge=1.0, le=300.0)


class EngineConfig(Section):
    kind: Literal["pytgcalls", "local", "rtmp"] = "pytgcalls"
    # engine "local" has no call: the listener count it reports until set_listeners changes it
    local_listeners: int = Field(default=1, ge=0)
    # may the assistant start a chat's voice/video chat itself when none is running?
    # (py-tgcalls would do it silently; off: "start a voice chat first" is answered)
    start_video_chat: bool = False


class StorageConfig(Section):
    database_url: str = "sqlite+aiosqlite:///sattva.db"
    redis_url: str = ""
    # where queues live: "auto" (Redis when redis_url is set, else the database) or
    # "database" (always the database; Redis then serves only the cluster)
    queue_store: Literal["auto", "database"] = "auto"
    # chat settings are read from memory for this long after a read (0: always the database)
    settings_cache_seconds: float = Field(default=5, ge=0)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a SQLAlchemy URL") from None
        if url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError(
                "must use an async driver: sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be empty or a redis://, rediss:// or unix:// URL")
        if value:
            Endpoint.from_url(value)  # what the queue store's own client would refuse
        return value


class SourcesConfig(Section):
    allow_private_networks: bool = False
    max_download_mb: int = Field(default=200, ge=1, le=2000)
    probe_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    library_dir: str = ""
    cache_dir: str = ".sattva-cache"
    # the download folder's bound: unneeded files go least recently used first, and a
    # download that would not fit beside the queued ones is refused
    cache_max_mb: int = Field(default=2048, ge=1, le=1_000_000)
    ytdlp_enabled: bool = True
    # a Netscape cookies file, or a folder of them, for yt-dlp (YouTube's "not a bot" check)
    ytdlp_cookies: str = ""
    # fetches (probe, yt-dlp lookup, download) running at once, in all chats together
    max_concurrent_resolves: int = Field(default=8, ge=1, le=256)
    # ... and in one chat; a request beyond it is answered "busy" at once
    max_resolves_per_chat: int = Field(default=2, ge=1, le=16)
    # how long a request waits for a free fetch slot before it is answered "busy"
    resolve_wait_seconds: float = Field(default=30.0, ge=0, le=600)
    # a site's stream URL (yt-dlp) without its own expiry (googlevideo's ``expire=``) is
    # taken as expired this long after it was resolved, and resolved again before it plays
    stream_url_ttl_seconds: int = Field(default=1800, ge=60, le=7 * 86400)


class PlayerConfig(Section):
    max_track_seconds: int = Field(default=3 * 3600, ge=1)
    queue_limit: int = Field(default=100, ge=1, le=10_000)
    # the most entries one playlist / album / set link queues (the first ones), and the most
    # tracks a streaming-service album or playlist link (Spotify etc.) searches and queues
    playlist_limit: int = Field(default=50, ge=1, le=1000)
    auto_end_seconds: int = Field(default=300, ge=0)
    auto_end_warning_seconds: int = Field(default=60, ge=0)
    participants_check_seconds: int = Field(default=30, ge=1)
    resume_after_restart: bool = True
    resume_rewind_seconds: int = Field(default=3, ge=0, le=60)
    default_volume: int = Field(default=100, ge=VOLUME_MIN, le=VOLUME_MAX)
    checkpoint_seconds: int = Field(default=5, ge=1, le=300)
    # /vplay's bounding box unless a chat chose its own: 360p, 480p, 720p or 1080p
    video_quality: Literal["360p", "480p", "720p", "1080p"] = "720p"
    # concurrent video streams per process (video costs far more CPU than audio)
    max_video_streams: int = Field(default=20, ge=0)

    def policy(self) -> PlayerPolicy:
        """The domain's view of this section (the domain does not import the config)."""
        return PlayerPolicy(
            max_track_seconds=self.max_track_seconds,
            queue_limit=self.queue_limit,
            auto_end_seconds=self.auto_end_seconds,
            auto_end_warning_seconds=self.auto_end_warning_seconds,
            participants_check_seconds=self.participants_check_seconds,
            resume_after_restart=self.resume_after_restart,
            resume_rewind_seconds=self.resume_rewind_seconds,
            default_volume=self.default_volume,
            checkpoint_seconds=self.checkpoint_seconds,
            video_quality=self.video_quality,
            max_video_streams=self.max_video_streams,
        )


class PlaylistsConfig(Section):
    """Saved playlists (/playlist): how many one user may keep, and how long each may be."""

    max_per_user: int = Field(default=20, ge=1, le=1000)
    max_tracks: int = Field(default=100, ge=1, le=10_000)


class BotConfig(Section):
    now_playing_images: bool = False
    progress_update_seconds: int = Field(default=20, ge=5)
    # /play requests one user may make per minute (in all chats together)
    plays_per_user_per_minute: int = Field(default=20, ge=1, le=1000)


class I18nConfig(Section):
    default_locale: Literal["en", "ru", "uk"] = "en"


class WebConfig(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    secret_key: SecretStr = SecretStr("")
    monitoring_token: SecretStr = SecretStr("")
    https_only: bool = False
    login_attempts_per_minute: int = Field(default=5, ge=1)
    metrics_interval_seconds: float = Field(default=5.0, gt=0)
    # the dashboard's history: live figures sampled this often into the hourly rollup,
    # whose rows are kept this many days (the charts show up to 7)
    history_sample_seconds: float = Field(default=60.0, gt=0)
    history_keep_days: int = Field(default=31, ge=7)
    # Host header names answered besides localhost, 127.0.0.1, ::1 and ``host``; "*": any
    allowed_hosts: list[str] = Field(default_factory=list)
    # open connections (HTTP + WebSocket) at once; more are answered 503 and closed
    max_connections: int = Field(default=100, ge=1)
    # a request's headers and body must arrive within this many seconds
    read_timeout_seconds: float = Field(default=10.0, gt=0)
    # Reverse proxies whose X-Forwarded-For / -Proto are believed (addresses or networks):
    # behind nginx, the client address (login throttle) and scheme (redirects) come from them.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.strip() or any(c in name for c in "/@?#") or name.count(":") == 1:
                raise ValueError(f"{name!r}: a host name without scheme, port or path")
        return [name.strip().lower() for name in value]


class MetricsConfig(Section):
    per_chat_labels: bool = False


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


class Settings(BaseSettings):
    """The whole configuration.  Environment variables win over the file."""

    model_config = SettingsConfigDict(
        env_prefix="SATTVA_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    telegram: TelegramConfig
    assistant: AssistantConfig = Field(default_factory=AssistantConfig)
    assistants: list[AssistantEntry] = Field(default_factory=list)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    player: PlayerConfig = Field(default_factory=PlayerConfig)
    playlists: PlaylistsConfig = Field(default_factory=PlaylistsConfig)
    bot: BotConfig = Field(default_factory=BotConfig)
    i18n: I18nConfig = Field(default_factory=I18nConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's content arrives as init kwargs; the environment is listed first so that
        # it overrides the file, key by key (pydantic-settings deep-merges the sources).
        return (env_settings, init_settings)

    def problems(self) -> list[str]:
        """What the cross-field rules find wrong, each "key: what is wrong" (empty: none)."""
        return [problem for rule in CROSS_FIELD_RULES for problem in rule(self)]

    def assistant_pool(self) -> list[AssistantEntry]:
        """The accounts to run: ``[[assistants]]``, or ``[assistant]`` as a pool of one."""
        if self.assistants:
            return list(self.assistants)
        a = self.assistant
        return [
            AssistantEntry(
                name=DEFAULT_ASSISTANT_NAME,
                api_id=a.api_id,
                api_hash=a.api_hash,
                session_string=a.session_string,
            )
        ]

    def assistant_key(self, entry: AssistantEntry) -> str:
        """How the config names this account's table in an error line."""
        return f"assistants[{entry.name}]" if self.assistants else "assistant"

    def node_id(self) -> str:
        """This process's name in the cluster (and in events): configured, or host + pid."""
        return self.cluster.node_id or f"{socket.gethostname()}-{os.getpid()}"


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(f"{key}: {msg}")
    return "config: " + "; ".join(problems)


def resolve_path(path: str | None) -> Path:
    return Path(path or os.environ.get(ENV_CONFIG_PATH) or DEFAULT_CONFIG_PATH)


def load_settings(
    path: str | os.PathLike[str] | None = None, *, cross_field: bool = True
) -> Settings:
    """Reads, merges and validates; every failure is a ConfigError with one line.

    ``cross_field=False`` skips the rules that span keys: for commands that read one section
    of a config that cannot run yet (``session`` reads [assistant] to make what it lacks).
    """
    file = resolve_path(None if path is None else str(path))
    if not file.is_file():
        raise ConfigError(
            f"config: {file} not found: `python -m bot init --config {file}` writes one (or "
            f"copy config.example.toml to {file} and set telegram.bot_token; --config PATH "
            "for another file)"
        )
    try:
        data: dict[str, Any] = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {file} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config: cannot read {file}: {exc.__class__.__name__}") from None
    return settings_from_mapping(data, cross_field=cross_field)


def settings_from_mapping(data: dict[str, Any], *, cross_field: bool = True) -> Settings:
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    problems = settings.problems() if cross_field else []
    if problems:
        raise ConfigError("config: " + "; ".join(problems))
    return settings
