"""Audit rows for changes made through the web panel: who, what, before -> after, when."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from bot.storage.repos import AuditRepo
from web.auth import SESSION_KEY


def actor_of(conn: HTTPConnection) -> str:
    name = conn.session.get(SESSION_KEY) if "session" in conn.scope else None
    return f"web:{name}" if isinstance(name, str) else "web:?"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def row_values(obj: Any, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The loaded column values of an ORM object, JSON-ready; never triggers a lazy load."""
    state = sa_inspect(obj)
    loaded = state.dict
    return {
        attr.key: _plain(loaded.get(attr.key))
        for attr in state.mapper.column_attrs
        if attr.key not in exclude and attr.key in loaded
    }


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose value changed, on each side."""
    keys = [k for k in after if before.get(k) != after[k]]
    keys += [k for k in before if k not in after]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


async def record(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """One audit row through the storage's AuditRepo (empty sides are stored as "")."""
    await AuditRepo(sessionmaker).record(
        actor, action, entity, entity_id, before or None, after or None
    )
