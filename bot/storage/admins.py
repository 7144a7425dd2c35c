"""Web-panel administrators: the one place passwords are hashed and checked.

argon2id (argon2-cffi's defaults) so a leaked ``web_admins`` table does not give away the
passwords; ``needs_rehash`` lets a login upgrade hashes made with older parameters.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.models import WebAdmin, WebSession

MIN_PASSWORD_LENGTH = 8
MAX_USERNAME_LENGTH = 64

_hasher = PasswordHasher()


class AdminError(ValueError):
    """A username or password the panel refuses; the message is shown as is."""


def hash_password(password: str) -> str:
    check_password(password)
    result: str = _hasher.hash(password)
    return result


def verify_password(password_hash: str, password: str) -> bool:
    """False for a wrong password and for a hash that is not argon2 (never raises)."""
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return bool(_hasher.check_needs_rehash(password_hash))
    except InvalidHashError:
        return True


def check_username(username: str) -> str:
    name = username.strip()
    if not name:
        raise AdminError("username must not be empty")
    if len(name) > MAX_USERNAME_LENGTH:
        raise AdminError(f"username must be at most {MAX_USERNAME_LENGTH} characters")
    if any(ch.isspace() for ch in name):
        raise AdminError("username must not contain spaces")
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


@dataclass(frozen=True, slots=True)
class AdminSaved:
    username: str
    created: bool  # False: an existing admin's password was reset


async def create_or_reset_admin(
    sessionmaker: async_sessionmaker[AsyncSession], username: str, password: str
) -> AdminSaved:
    """Creates the admin, or sets a new password when the username exists."""
    name = check_username(username)
    password_hash = hash_password(password)
    async with sessionmaker() as session, session.begin():
        admin = await session.scalar(select(WebAdmin).where(WebAdmin.username == name))
        if admin is None:
            session.add(WebAdmin(username=name, password_hash=password_hash))
            return AdminSaved(name, created=True)
        admin.password_hash = password_hash
        await end_sessions_of(session, admin.id)
        return AdminSaved(name, created=False)


def _session_id(token: str) -> str:
    """What the table stores: the token's SHA-256, so a copy of the table opens nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(
    sessionmaker: async_sessionmaker[AsyncSession], admin_id: int, lifetime: timedelta
) -> str:
    """A new session of the admin; returns the token its cookie carries.  Sessions past
    their end are removed on the way, so the table holds only live ones."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with sessionmaker() as session, session.begin():
        await session.execute(delete(WebSession).where(WebSession.expires_at <= now))
        session.add(
            WebSession(
                id=_session_id(token), admin_id=admin_id, created_at=now, expires_at=now + lifetime
            )
        )
    return token


async def session_username(
    sessionmaker: async_sessionmaker[AsyncSession], token: str
) -> str | None:
    """The username of the admin whose live session ``token`` is, else None."""
    async with sessionmaker() as session:
        return await session.scalar(
            select(WebAdmin.username)
            .join(WebSession, WebSession.admin_id == WebAdmin.id)
            .where(
                WebSession.id == _session_id(token),
                WebSession.expires_at > datetime.now(UTC),
            )
        )


async def end_session(sessionmaker: async_sessionmaker[AsyncSession], token: str) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(delete(WebSession).where(WebSession.id == _session_id(token)))


async def end_sessions_of(session: AsyncSession, admin_id: int) -> None:
    """Ends every session of the admin, in the caller's transaction (a password change)."""
    await session.execute(delete(WebSession).where(WebSession.admin_id == admin_id))
