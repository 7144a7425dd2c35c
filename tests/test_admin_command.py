from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import select

from bot.admin_command import run_admin_create
from bot.config import Settings, settings_from_mapping
from bot.storage.admins import verify_password
from bot.storage.database import create_engine, session_factory
from bot.storage.orm import WebAdmin


def settings(tmp_path: Path) -> Settings:
    return settings_from_mapping(
        {
            "telegram": {"bot_token": "123456:" + "A" * 35},
            "engine": {"kind": "local"},
            "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"},
            "web": {"secret_key": "k" * 32},
        }
    )


def replies(answers: Iterator[str]) -> Callable[[str], str]:
    """A prompt that ignores its text and answers the next of ``answers``."""
    return lambda _: next(answers)


async def stored_hash(tmp_path: Path, username: str) -> str | None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    try:
        async with session_factory(engine)() as session:
            return await session.scalar(
                select(WebAdmin.password_hash).where(WebAdmin.username == username)
            )
    finally:
        await engine.dispose()


async def test_create_from_stdin_then_reset_with_the_prompt(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = await run_admin_create(
        settings(tmp_path),
        "alice",
        password_stdin=True,
        stdin=io.StringIO("first password\n"),
        out=out,
        err=err,
    )
    assert (code, out.getvalue(), err.getvalue()) == (0, "web admin 'alice' created\n", "")
    first = await stored_hash(tmp_path, "alice")
    assert first is not None
    assert verify_password(first, "first password")

    answers = iter(["second password", "second password"])
    out = io.StringIO()
    code = await run_admin_create(
        settings(tmp_path), "alice", password_stdin=False, out=out, prompt=lambda _: next(answers)
    )
    assert (code, out.getvalue()) == (0, "password of web admin 'alice' reset\n")
    second = await stored_hash(tmp_path, "alice")
    assert second is not None
    assert verify_password(second, "second password")


async def test_bad_input_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    cases = [
        ("alice", True, "short\n", None, "admin create: password must be at least 8 characters\n"),
        ("a b", True, "long enough\n", None, "admin create: username must not contain spaces\n"),
        (
            "alice",
            False,
            "",
            iter(["one password", "another one"]),
            "admin create: the two passwords differ\n",
        ),
    ]
    for username, from_stdin, stdin, answers, message in cases:
        err = io.StringIO()
        code = await run_admin_create(
            settings(tmp_path),
            username,
            password_stdin=from_stdin,
            stdin=io.StringIO(stdin),
            err=err,
            prompt=replies(answers) if answers else input,
        )
        assert (code, err.getvalue()) == (2, message)
    assert await stored_hash(tmp_path, "alice") is None
