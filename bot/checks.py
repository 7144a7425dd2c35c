"""``python -m bot check``: one line per part of the set-up, exit 0 only when all hold.

Each check catches its own failures and phrases them, so one broken part never hides the
state of the others.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.config import Settings


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


async def check_tools(_: Settings) -> CheckResult:
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        return CheckResult("ffmpeg", False, f"{' and '.join(missing)} not on PATH")
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-hide_banner",
        "-version",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _err = await proc.communicate()
    first = out.decode(errors="replace").splitlines()[0] if out else "ffmpeg"
    return CheckResult("ffmpeg", proc.returncode == 0, first)


async def check_database(settings: Settings) -> CheckResult:
    from bot.storage.database import create_engine, pending_migrations

    engine = create_engine(settings.storage.database_url)
    try:
        pending = await pending_migrations(engine)
    except Exception as exc:  # any driver error is a failed check, phrased in one line
        return CheckResult("database", False, f"unreachable: {exc.__class__.__name__}")
    finally:
        await engine.dispose()
    if pending:
        return CheckResult(
            "database",
            False,
            f"{len(pending)} migration(s) pending ({', '.join(pending)}); they are applied "
            "when the bot starts",
        )
    return CheckResult("database", True, f"{engine.url.get_backend_name()}, schema up to date")


async def check_redis(settings: Settings) -> CheckResult:
    url = settings.storage.redis_url
    if not url:
        return CheckResult("redis", True, "not configured: queues live in the database")
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
        info = await client.info("persistence")
    except (RedisError, OSError) as exc:
        return CheckResult("redis", False, f"unreachable: {exc.__class__.__name__}")
    finally:
        await client.aclose()
    if str(info.get("aof_enabled", 0)) != "1":
        return CheckResult(
            "redis", False, "reachable, but appendonly is off: queues would not survive a restart"
        )
    return CheckResult("redis", True, "reachable, appendonly on")


async def check_telegram(settings: Settings) -> list[CheckResult]:
    """getMe with the token, then how updates reach the bot (getWebhookInfo)."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError

    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram.api_base))
    bot = Bot(settings.telegram.bot_token.get_secret_value(), session=session)
    try:
        me = await bot.get_me(request_timeout=10)
        hook = await bot.get_webhook_info(request_timeout=10)
    except TelegramUnauthorizedError:
        return [CheckResult("telegram", False, "the bot token was rejected (getMe: 401)")]
    except TelegramNetworkError:
        return [CheckResult("telegram", False, f"cannot reach {settings.telegram.api_base}")]
    except TelegramAPIError as exc:
        return [
            CheckResult("telegram", False, f"{exc.method.__api_method__} failed: {exc.message}")
        ]
    finally:
        await bot.session.close()
    return [CheckResult("telegram", True, f"@{me.username} (id {me.id})"), _updates(settings, hook)]


def _updates(settings: Settings, hook: Any) -> CheckResult:
    url: str = hook.url or ""
    if settings.telegram.mode == "polling":
        if url:
            return CheckResult(
                "updates",
                False,
                f"a webhook is set ({url}): Telegram refuses polling until it is deleted "
                '(deleteWebhook), or set telegram.mode = "webhook"',
            )
        return CheckResult("updates", True, "polling")
    if hook.last_error_message:
        return CheckResult(
            "updates", False, f"Telegram's last delivery failed: {hook.last_error_message}"
        )
    if url != settings.telegram.webhook_url:
        return CheckResult(
            "updates", True, "webhook: set to telegram.webhook_url when the bot starts"
        )
    return CheckResult("updates", True, f"webhook: {url}")


async def check_assistants(settings: Settings) -> list[CheckResult]:
    """One line per account of the pool (``[[assistants]]``, or ``[assistant]`` alone).

    A missing account key never gets here: the config's validation refuses it first.
    """
    results = []
    for entry in settings.assistant_pool():
        label = f"assistant {entry.name}" if settings.assistants else "assistant"
        if settings.engine.kind in ("local", "rtmp"):
            kind = settings.engine.kind
            detail = (
                f"virtual account (engine.kind is {kind})"
                if settings.assistants and kind == "local"
                else f"not needed: engine.kind is {kind}"
            )
        else:
            detail = f"session string present (api_id {entry.api_id})"
        results.append(CheckResult(label, True, detail))
    return results


async def check_cookies(settings: Settings) -> CheckResult:
    """The files of ``sources.ytdlp_cookies`` and those the running bot set aside."""
    from bot.sources.cookies import cookie_state_file, cookie_verdict

    ok, detail = cookie_verdict(settings.sources.ytdlp_cookies, cookie_state_file(settings.sources))
    return CheckResult("yt-dlp cookies", ok, detail)


Check = Callable[[Settings], Awaitable[CheckResult | list[CheckResult]]]

CHECKS: tuple[Check, ...] = (
    check_tools,
    check_database,
    check_redis,
    check_telegram,
    check_assistants,
    check_cookies,
)


async def run_checks(settings: Settings, out: Callable[[str], None] = print) -> bool:
    out(CheckResult("config", True, "valid").line())
    results: list[CheckResult] = []
    for check in CHECKS:
        result = await check(settings)
        results.extend(result if isinstance(result, list) else [result])
    for result in results:
        out(result.line())
    return all(r.ok for r in results)
