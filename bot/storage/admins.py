"""Web-panel administrators: the one place passwords are hashed and checked.

argon2id (argon2-cffi's defaults) so a leaked ``web_admins`` table does not give away the
passwords; ``needs_rehash`` lets a login upgrade hashes made with older parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.orm import WebAdmin

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
        return AdminSaved(name, created=False)
