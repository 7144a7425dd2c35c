"""Admin login for the panel, the dashboard and the monitoring WebSocket.

One signed session cookie (Starlette's SessionMiddleware, installed once on the whole app so
``/``, ``/api`` and ``/ws`` see the same login as ``/admin``): HttpOnly, SameSite=Strict,
Secure when ``web.https_only``.  The cookie names a server-side session (a row of
``web_sessions``), checked on every request: logout, a password change or the admin's
removal ends it, wherever copies of the cookie went.  Failed logins are throttled per client
address and per username, so guessing a password costs minutes, not milliseconds.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqladmin.authentication import AuthenticationBackend
from sqlalchemy import select, update
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from bot.storage.admins import (
    MAX_USERNAME_LENGTH,
    end_session,
    hash_password,
    needs_rehash,
    open_session,
    session_username,
    verify_password,
)
from bot.storage.models import WebAdmin
from web.services import WebServices

if TYPE_CHECKING:
    from sqladmin.templating import Jinja2Templates

SESSION_COOKIE = "sattva_session"
SESSION_MAX_AGE = 12 * 3600
SESSION_KEY = "admin"
# The server-side session's token (see bot.storage.admins.open_session).
SESSION_ID_KEY = "sid"
WINDOW_SECONDS = 60.0
# Bounds the throttle's memory when addresses are many (a spray): the oldest keys go first.
MAX_TRACKED_KEYS = 10_000
# A username that does not exist is verified against this, so a miss costs as much as a hit.
_DUMMY_HASH = hash_password("not-a-real-password")


def session_middleware(services: WebServices) -> Middleware:
    web = services.settings.web
    return Middleware(
        SessionMiddleware,
        secret_key=web.secret_key.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        path="/",
        same_site="strict",
        https_only=web.https_only,
    )


class LoginThrottle:
    """Counts failed logins per key over a sliding minute."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - WINDOW_SECONDS:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, keys: list[str]) -> float:
        """Seconds until an attempt is allowed for all ``keys``; 0 when allowed now."""
        now = self._clock()
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if times is not None and len(times) >= self.limit:
                wait = max(wait, times[-self.limit] + WINDOW_SECONDS - now)
        return wait

    def attempt(self, keys: list[str]) -> tuple[float, float]:
        """Admits an attempt and counts it as failed until ``succeeded`` says otherwise, or
        refuses it: (seconds to wait, 0) or (0, the attempt's time).

        Counting before the password is checked (a slow hash, off the loop) is what makes
        the limit hold for attempts sent at once: each is counted before the next is seen.
        """
        wait = self.retry_after(keys)
        if wait > 0:
            return wait, 0.0
        return 0.0, self.failed(keys)

    def failed(self, keys: list[str]) -> float:
        now = self._clock()
        for key in keys:
            times = self._recent(key, now)
            if times is None:
                times = self._failures[key] = deque(maxlen=self.limit)
            times.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED_KEYS:
            self._failures.popitem(last=False)
        return now

    def succeeded(self, address_key: str, username_key: str, at: float) -> None:
        """The attempt made at ``at`` was right: it does not count against the address,
        and the username's earlier failures are forgiven."""
        self._failures.pop(username_key, None)
        times = self._failures.get(address_key)
        if times is not None and at in times:
            times.remove(at)


async def session_admin(services: WebServices, conn: HTTPConnection) -> str | None:
    """The logged-in admin's username, or None.  A session ended on the server (logout,
    password change, admin deleted, past its 12 h) is cleared from the cookie too."""
    if "session" not in conn.scope:
        return None
    token = conn.session.get(SESSION_ID_KEY)
    if not isinstance(token, str):
        return None
    username = await session_username(services.sessionmaker, token)
    if username is None:
        conn.session.clear()
        return None
    if conn.session.get(SESSION_KEY) != username:  # renamed in the panel meanwhile
        conn.session[SESSION_KEY] = username
    return username


class AdminAuth(AuthenticationBackend):
    def __init__(self, services: WebServices) -> None:
        super().__init__(secret_key=services.settings.web.secret_key.get_secret_value())
        # The session middleware is installed on the outer app (see web.app), not on the
        # admin sub-app, so that the dashboard and the WebSocket share the login.
        self.middlewares = []
        self.services = services
        self.throttle = LoginThrottle(
            services.settings.web.login_attempts_per_minute, services.clock
        )
        self.templates: Jinja2Templates | None = None  # set by web.admin once sqladmin exists

    async def login(self, request: Request) -> Response | bool:
        form = await request.form()
        # Longer than any stored name cannot match; cut so throttle keys stay small.
        username = str(form.get("username") or "").strip()[: MAX_USERNAME_LENGTH + 1]
        password = str(form.get("password") or "")
        address = request.client.host if request.client else "unknown"
        keys = [f"ip:{address}", f"user:{username.lower()}"]
        wait, at = self.throttle.attempt(keys)
        if wait > 0:
            return await self._refuse(
                request,
                f"Too many failed logins. Try again in {math.ceil(wait)} seconds.",
                429,
            )
        admin_id = await self._check(username, password) if username and password else None
        if admin_id is None:
            return False
        self.throttle.succeeded(keys[0], keys[1], at)
        token = await open_session(
            self.services.sessionmaker, admin_id, timedelta(seconds=SESSION_MAX_AGE)
        )
        request.session.clear()
        request.session[SESSION_KEY] = username
        request.session[SESSION_ID_KEY] = token
        return True

    async def _check(self, username: str, password: str) -> int | None:
        """The admin's id when the password is right (its hash upgraded if it is old)."""
        async with self.services.sessionmaker() as session:
            admin = await session.scalar(select(WebAdmin).where(WebAdmin.username == username))
        # argon2 is CPU-heavy by design: run it off the event loop the bot shares.
        if admin is None:
            await asyncio.to_thread(verify_password, _DUMMY_HASH, password)
            return None
        if not await asyncio.to_thread(verify_password, admin.password_hash, password):
            return None
        values: dict[str, object] = {"last_login_at": datetime.now(UTC)}
        if needs_rehash(admin.password_hash):
            values["password_hash"] = await asyncio.to_thread(hash_password, password)
        # A write-only transaction: a read-then-write one can fail on SQLite (WAL snapshot).
        async with self.services.sessionmaker() as session, session.begin():
            await session.execute(update(WebAdmin).where(WebAdmin.id == admin.id).values(values))
        return admin.id

    async def _refuse(self, request: Request, message: str, status: int) -> Response:
        if self.templates is None:
            return Response(message, status_code=status, media_type="text/plain")
        return await self.templates.TemplateResponse(
            request, "sqladmin/login.html", {"error": message}, status_code=status
        )

    async def logout(self, request: Request) -> Response | bool:
        token = request.session.get(SESSION_ID_KEY)
        if isinstance(token, str):
            await end_session(self.services.sessionmaker, token)
        request.session.clear()
        return False  # sqladmin then redirects to the login page

    async def authenticate(self, request: Request) -> Response | bool:
        return await session_admin(self.services, request) is not None

    async def get_user_id(self, request: Request) -> str | None:
        value = request.session.get(SESSION_KEY)
        return value if isinstance(value, str) else None
