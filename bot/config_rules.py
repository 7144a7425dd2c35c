"""Kept apart so that ``bot.config`` stays a size one can read: the rules that span keys.

``Settings`` is imported only for type checking, since ``bot.config`` imports this module
to run the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings

# -- rules that span keys --------------------------------------------------------------------
# Checked by load_settings / settings_from_mapping, so `python -m bot`, `python -m bot check`
# and every other entry point refuse an inconsistent config with the same one line (every
# problem named), before anything starts.  A new rule is a function yielding
# "key: problem" lines, appended to CROSS_FIELD_RULES.

CrossFieldRule = Callable[["Settings"], Iterable[str]]


def _web_needs_secret(s: Settings) -> Iterable[str]:
    if s.web.enabled and not s.web.secret_key.get_secret_value():
        yield (
            "web.secret_key: required when web.enabled is true "
            "(`python -m bot init` writes a config with one generated)"
        )


def _cache_holds_a_download(s: Settings) -> Iterable[str]:
    if s.sources.cache_max_mb < s.sources.max_download_mb:
        yield "sources.cache_max_mb: must be at least sources.max_download_mb"


def _auto_end_warning_fits(s: Settings) -> Iterable[str]:
    if s.player.auto_end_warning_seconds > s.player.auto_end_seconds > 0:
        yield "player.auto_end_warning_seconds: must not exceed player.auto_end_seconds"


def _assistants_are_one_pool(s: Settings) -> Iterable[str]:
    if s.assistants and s.assistant.is_set():
        yield "assistant: set either [assistant] or [[assistants]], not both"
    names = [a.name for a in s.assistants]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        yield f"assistants: the name {twice[0]!r} is used twice"


def _engine_has_its_accounts(s: Settings) -> Iterable[str]:
    if s.engine.kind != "pytgcalls":
        return
    for entry in s.assistant_pool():
        missing = entry.missing()
        if missing:
            key = s.assistant_key(entry)
            yield (
                f"{', '.join(f'{key}.{m}' for m in missing)}: required for engine.kind = "
                '"pytgcalls" (run `python -m bot session` for the session string, or use '
                'engine.kind = "local")'
            )


def _messages_dir_is_virtual(s: Settings) -> Iterable[str]:
    if s.engine.kind != "local":
        for entry in s.assistants:
            if entry.messages_dir:
                yield (
                    f"assistants[{entry.name}].messages_dir: only for engine.kind = "
                    '"local" (a real account reads Telegram itself)'
                )


def _webhook_is_reachable(s: Settings) -> Iterable[str]:
    t = s.telegram
    if t.mode != "webhook":
        return
    if not t.webhook_url:
        yield 'telegram.webhook_url: required when telegram.mode = "webhook"'
    if not t.webhook_secret.get_secret_value():
        yield 'telegram.webhook_secret: required when telegram.mode = "webhook"'
    if not s.web.enabled:
        yield (
            'web.enabled: must be true when telegram.mode = "webhook" '
            "(updates arrive at POST /telegram/webhook)"
        )


def _cluster_is_supported(s: Settings) -> Iterable[str]:
    if not s.cluster.enabled:
        return
    if not s.storage.redis_url:
        yield (
            "storage.redis_url: required when cluster.enabled is true "
            "(leases, routing, update claims and the poller lease live in Redis)"
        )
    if not s.storage.database_url.startswith("postgresql+asyncpg://"):
        yield (
            "storage.database_url: cluster.enabled needs PostgreSQL "
            "(postgresql+asyncpg://...), shared by every node"
        )


CROSS_FIELD_RULES: tuple[CrossFieldRule, ...] = (
    _web_needs_secret,
    _auto_end_warning_fits,
    _cache_holds_a_download,
    _assistants_are_one_pool,
    _webhook_is_reachable,
    _messages_dir_is_virtual,
    _cluster_is_supported,
    # last: on a first run it is the expected gap, the others are mistakes worth reading first
    _engine_has_its_accounts,
)
