"""``python -m bot admin create USERNAME``: the operator's way to a first web-panel login.

The CLI dispatcher calls ``run_admin_create``; it returns the process exit code and prints
one line, so a typo or a short password is a sentence, not a traceback.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import TextIO

from bot.config import Settings
from bot.domain.queue import StorageUnavailable
from bot.storage.admins import AdminError, create_or_reset_admin
from bot.storage.database import create_engine, migrate, session_factory


def read_password(
    *,
    from_stdin: bool,
    stdin: TextIO = sys.stdin,
    prompt: Callable[[str], str] = getpass.getpass,
) -> str:
    """``--password-stdin`` reads one line; otherwise the password is asked twice."""
    if from_stdin:
        return stdin.readline().rstrip("\r\n")
    first = prompt("Password: ")
    if prompt("Repeat the password: ") != first:
        raise AdminError("the two passwords differ")
    return first


async def admin_create(settings: Settings, username: str, password: str) -> str:
    """Migrates the database if needed, saves the admin; returns the line to print."""
    engine = create_engine(settings.storage.database_url)
    try:
        await migrate(engine)
        saved = await create_or_reset_admin(session_factory(engine), username, password)
    finally:
        await engine.dispose()
    if saved.created:
        return f"web admin {saved.username!r} created"
    return f"password of web admin {saved.username!r} reset"


async def run_admin_create(
    settings: Settings,
    username: str,
    *,
    password_stdin: bool,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    prompt: Callable[[str], str] = getpass.getpass,
) -> int:
    try:
        password = read_password(from_stdin=password_stdin, stdin=stdin, prompt=prompt)
        line = await admin_create(settings, username, password)
    except AdminError as exc:
        print(f"admin create: {exc}", file=err)
        return 2
    except (StorageUnavailable, OSError) as exc:
        print(f"admin create: the database did not answer ({exc.__class__.__name__})", file=err)
        return 1
    print(line, file=out)
    return 0
