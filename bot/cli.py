"""Command line: ``python -m bot [--config PATH] [init | check | admin create USER | session]``.

Every failure an operator can cause (missing config, bad value, unreachable service) ends
as one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from bot.config import ConfigError, Settings, load_settings, resolve_path
from bot.config_accounts import ASSISTANT_NAME_RE

EXIT_CONFIG = 2
EXIT_FAILED = 1


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a --config given before the subcommand is not reset by the subparser.
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default: $SATTVA_CONFIG, then ./config.toml)",
    )
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Sattva: Telegram voice-chat streamer (runs the bot and its web sidecar)",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command")
    init = sub.add_parser(
        "init", parents=[common], help="write a config file with generated secrets"
    )
    init.add_argument(
        "--token", default=None, help="the bot token from @BotFather (asked for when omitted)"
    )
    sub.add_parser("check", parents=[common], help="check the set-up, one line per item")
    admin = sub.add_parser("admin", parents=[common], help="web panel administrators")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser(
        "create", parents=[common], help="create (or reset) a web-panel admin"
    )
    create.add_argument("username")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    session = sub.add_parser(
        "session", parents=[common], help="create the assistant account's session string"
    )
    session.add_argument("--api-id", type=int, default=None, help="my.telegram.org api_id")
    session.add_argument("--api-hash", default=None, help="my.telegram.org api_hash")
    session.add_argument(
        "--name", default=None, help="print an [[assistants]] table for this account of the pool"
    )
    return parser


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code


def _session(args: argparse.Namespace) -> int:
    api_id: int | None = args.api_id
    api_hash: str | None = args.api_hash
    if api_id is None or not api_hash:
        try:
            # the config cannot be complete yet: the session string is what this makes
            settings = load_settings(getattr(args, "config", None), cross_field=False)
        except ConfigError:
            settings = None
        if settings is not None:
            first = settings.assistant_pool()[0]
            api_id = api_id or first.api_id or None
            api_hash = api_hash or first.api_hash.get_secret_value() or None
    if not api_id or not api_hash:
        return _fail(
            "session: api_id and api_hash are needed (--api-id/--api-hash, or [assistant] "
            "in the config); get them at my.telegram.org",
            EXIT_CONFIG,
        )
    name: str | None = args.name
    if name is not None and not ASSISTANT_NAME_RE.match(name):
        return _fail("session: --name: 1-32 characters of A-Z, a-z, 0-9, _ and -", EXIT_CONFIG)
    if not sys.stdin.isatty():
        return _fail("session: interactive; run it in a terminal", EXIT_CONFIG)
    from bot.assistant_session import create_session_string

    session_string = asyncio.run(create_session_string(api_id, api_hash))
    if name is None:
        print("Put this in [assistant] session_string (keep it secret):")
        print(session_string)
    else:
        print("Add this account to the config (keep it secret):")
        print(assistant_table(name, api_id, api_hash, session_string))
    return 0


def _init(args: argparse.Namespace) -> int:
    from bot.init_command import InitError, run_init

    try:
        run_init(resolve_path(getattr(args, "config", None)), args.token)
    except InitError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    return 0


def assistant_table(name: str, api_id: int, api_hash: str, session_string: str) -> str:
    """The ``[[assistants]]`` table that adds one account to the pool."""
    return "\n".join(
        (
            "[[assistants]]",
            f"name = {json.dumps(name)}",
            f"api_id = {api_id}",
            f"api_hash = {json.dumps(api_hash)}",
            f"session_string = {json.dumps(session_string)}",
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "session":
        return _session(args)
    if args.command == "init":
        return _init(args)
    try:
        settings: Settings = load_settings(getattr(args, "config", None))
    except ConfigError as exc:
        if args.command == "check":
            print(f"FAIL {exc}")
            return EXIT_FAILED
        return _fail(str(exc), EXIT_CONFIG)

    if args.command == "check":
        from bot.checks import run_checks

        return 0 if asyncio.run(run_checks(settings)) else EXIT_FAILED

    if args.command == "admin":
        from bot.admin_command import run_admin_create

        return asyncio.run(
            run_admin_create(settings, args.username, password_stdin=args.password_stdin)
        )

    from bot.app import run

    return asyncio.run(run(settings))


if __name__ == "__main__":
    sys.exit(main())
