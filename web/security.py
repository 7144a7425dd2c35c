"""Which requests the sidecar answers at all: known Host names, same-origin changes.

Host: a page on another site whose name the attacker points at 127.0.0.1 (DNS rebinding)
reaches the sidecar from the victim's browser as same-origin, with its own name in the Host
header.  Only names the sidecar is known by are answered, on every path (the WebSocket and
``/metrics`` too): the localhost names, ``web.host`` and ``web.allowed_hosts``.

Origin: sqladmin has no CSRF tokens.  Two layers stand in for them: the session cookie is
SameSite=Strict (a browser does not send it on cross-site requests), and the Origin check
refuses any POST/PUT/PATCH/DELETE whose Origin (or, when a browser sent none, Referer) is
not this very host and port.  A request carrying neither header is refused too: every
browser sends Origin on such requests, so only a non-browser client lacks both, and it can
send one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
ANY_HOST = "*"


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
    """True when Origin (else Referer) names the host and port the request was sent to.

    A Host without a port means the default port of the Origin's scheme: a proxy in front
    on 80/443 sends none, and this process may not see whether the client used https.
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
    default = _DEFAULT_PORTS[parts.scheme]
    return (theirs[1] or default) == (ours[1] or default)


def _name(host: str) -> str:
    """A host name as compared: lower case, no brackets around IPv6, no trailing dot."""
    return host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")


def allowed_host_names(host: str, extra: Iterable[str]) -> frozenset[str]:
    """The names the Host header may carry: localhost's, the listen address unless it is
    every interface, and the configured ones."""
    names = {*LOCAL_NAMES, *(_name(h) for h in extra)}
    if not _every_interface(_name(host)):
        names.add(_name(host))
    return frozenset(names)


def _every_interface(host: str) -> bool:
    try:
        return not host or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def host_allowed(headers: Headers, allowed: frozenset[str]) -> bool:
    if ANY_HOST in allowed:
        return True
    parsed = _host_port(headers.get("host", ""))
    return parsed is not None and _name(parsed[0]) in allowed


class HostCheckMiddleware:
    """400 for a Host the sidecar is not known by, on HTTP and WebSocket alike."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or host_allowed(
            Headers(scope=scope), self.allowed
        ):
            await self.app(scope, receive, send)
            return
        refusal = PlainTextResponse("Unknown Host header.", status_code=400)
        if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
            await refusal(scope, receive, send)
        else:  # a server without denial responses: a close before accept is a 403
            await send({"type": "websocket.close", "code": 1008})


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
