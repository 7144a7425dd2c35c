"""Cross-site request refusal for state-changing requests.

sqladmin has no CSRF tokens.  Two layers stand in for them: the session cookie is
SameSite=Strict (a browser does not send it on cross-site requests), and this middleware
refuses any POST/PUT/PATCH/DELETE whose Origin (or, when a browser sent none, Referer) is
not this very host.  A request carrying neither header is refused too: every browser sends
Origin on such requests, so only a non-browser client lacks both, and it can send one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(netloc: str) -> tuple[str, int | None] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port


def same_origin(headers: Headers) -> bool:
    """True when Origin (else Referer) names the host the request was sent to.

    Ports are compared when the Host header carries one; without one (a proxy in front on
    80/443, whose scheme this process may not see) the host names must match.
    """
    host = headers.get("host")
    source = headers.get("origin") or headers.get("referer")
    if not host or not source or source == "null":
        return False
    parts = urlsplit(source)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    theirs = _host_port(parts.netloc)
    ours = _host_port(host)
    if theirs is None or ours is None or theirs[0] != ours[0]:
        return False
    if ours[1] is None:
        return True
    return (theirs[1] or _DEFAULT_PORTS[parts.scheme]) == ours[1]


class OriginCheckMiddleware:
    """Pure ASGI, so WebSockets pass untouched (they check Origin themselves).  ``exempt``:
    paths authenticated otherwise than by the session cookie (the Telegram webhook)."""

    def __init__(self, app: ASGIApp, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in UNSAFE_METHODS
            and scope["path"] not in self.exempt
            and not same_origin(Headers(scope=scope))
        ):
            response = PlainTextResponse(
                "Cross-site request refused: the Origin header does not match this site.",
                status_code=403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # same-origin: our own pages still send Referer (the Origin check's fallback); other
    # sites never learn the panel's URLs.
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    """No framing (clickjacking), no MIME sniffing, no Referer to other sites."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
