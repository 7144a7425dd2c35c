from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bot.storage.admins import (
    AdminError,
    create_or_reset_admin,
    hash_password,
    needs_rehash,
    verify_password,
)
from bot.storage.orm import Base, WebAdmin


def test_hash_and_verify() -> None:
    hashed = hash_password("long enough")
    assert hashed.startswith("$argon2id$")
    assert hashed != hash_password("long enough")  # salted
    assert verify_password(hashed, "long enough")
    assert not verify_password(hashed, "long enougH")
    assert not verify_password("not a hash", "long enough")
    assert not needs_rehash(hashed)


def test_weaker_parameters_need_a_rehash() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("long enough")
    assert verify_password(old, "long enough")
    assert needs_rehash(old)
    assert needs_rehash("plain-text")


def test_short_password_is_refused() -> None:
    with pytest.raises(AdminError, match="at least 8 characters"):
        hash_password("short")


async def test_create_then_reset(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        first = await create_or_reset_admin(sessions, " alice ", "first password")
        second = await create_or_reset_admin(sessions, "alice", "second password")
        assert (first.username, first.created, second.created) == ("alice", True, False)
        async with sessions() as session:
            admins = (await session.scalars(select(WebAdmin))).all()
        assert [a.username for a in admins] == ["alice"]
        assert verify_password(admins[0].password_hash, "second password")
        assert not verify_password(admins[0].password_hash, "first password")
        for bad, message in (("", "must not be empty"), ("a b", "spaces"), ("x" * 65, "at most")):
            with pytest.raises(AdminError, match=message):
                await create_or_reset_admin(sessions, bad, "long enough")
    finally:
        await engine.dispose()
