"""The pool's chat -> assistant assignments on SQLite and PostgreSQL: the first writer wins
when many claim one chat at once, a move only succeeds from the account still assigned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.assignments import AssignmentRepo
from bot.storage.database import create_engine, migrate, session_factory


@pytest.fixture
async def repo(database_url: str) -> AsyncIterator[AssignmentRepo]:
    engine: AsyncEngine = create_engine(database_url)
    await migrate(engine)
    yield AssignmentRepo(session_factory(engine))
    await engine.dispose()


async def test_concurrent_claims_agree_on_the_first_writer(repo: AssignmentRepo) -> None:
    names = [f"a{i}" for i in range(8)]
    stored = await asyncio.gather(*(repo.claim(-1, name) for name in names))
    assert len(set(stored)) == 1  # every claimer is told the same account
    assert stored[0] in names
    assert await repo.get(-1) == stored[0]
    assert await repo.claim(-1, "other") == stored[0]  # later claims change nothing


async def test_move_is_compare_and_set(repo: AssignmentRepo) -> None:
    await repo.claim(-1, "a1")
    await repo.claim(-2, "a1")
    await repo.claim(-3, "a2")
    results = await asyncio.gather(repo.move(-1, "a1", "a2"), repo.move(-1, "a1", "a3"))
    assert sorted(results) == [False, True]  # one mover wins
    winner = await repo.get(-1)
    assert winner in ("a2", "a3")
    assert not await repo.move(-3, "a1", "a3")  # not a1's chat
    expected = {"a1": 1, "a2": 1}
    expected[winner] = expected.get(winner, 0) + 1
    assert await repo.counts() == expected
    assert await repo.chats_of("a1") == [-2]
    assert await repo.release([-2, -3], "a1") == 1  # only the chat a1 still has
    assert await repo.get(-2) is None
    assert await repo.get(-3) == "a2"
