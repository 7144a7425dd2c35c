"""Alembic environment for Sattva's schema (``bot.storage.orm``).

Two ways in: ``bot.storage.database.migrate`` hands a synchronous connection (already in a
transaction, taken from the bot's own async engine) through ``config.attributes``; the
alembic CLI hands nothing, and an async engine is made here for ``-x url=...`` or the URL in
the bot's config.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from bot.storage.database import create_engine
from bot.storage.orm import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    from bot.config import load_settings  # only the CLI path needs the bot's config

    return load_settings().storage.database_url


async def _run_on_new_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is None:
        asyncio.run(_run_on_new_engine(_url()))
    else:
        _run(given)
