"""Bounds on what web clients can hold in the bot's process.

The sidecar shares the bot's process, so its sockets come out of the descriptor limit the
bot's own work (Telegram, media downloads, ffmpeg pipes) needs too.  uvicorn keeps a
connection that never finishes its request for ever (its keep-alive timeout starts only
after a first answer), and accepts connections without limit.  This protocol adds the two
missing bounds at the socket level, before any request exists:

- at most ``web.max_connections`` open connections (HTTP and WebSocket together); one
  more is answered 503 and closed at once, so its descriptor is back within the same turn;
- a request's headers and body must arrive within ``web.read_timeout_seconds`` of its
  first byte (or of the connection's opening): a client that trickles or stalls is answered
  408 and closed.  A WebSocket, once upgraded, is not bound by it.

uvicorn's ``limit_concurrency`` is no substitute: it refuses only once the headers are
complete, so it never sees the clients that never complete them.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def _plain(status: bytes, text: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(text)).encode() + b"\r\nconnection: close\r\n\r\n" + text
    )


BUSY = _plain(b"503 Service Unavailable", b"Too many connections; try again shortly.\n")
TOO_SLOW = _plain(b"408 Request Timeout", b"The request did not arrive in time.\n")
# h11 states in which the client is still sending the request
_RECEIVING = (h11.IDLE, h11.SEND_BODY)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a connection cap and a request read deadline (set on a
    subclass per server by ``guarded_protocol``)."""

    max_connections = 100
    read_timeout_seconds = 10.0

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.write(BUSY)
            transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._arm()  # a new request begins (the first one, or the next on keep-alive)
        super().data_received(data)
        if self.conn.their_state not in _RECEIVING:
            self._disarm()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.conn.our_state is h11.IDLE:  # no answer begun: say why
            self.transport.write(TOO_SLOW)
        self.transport.close()


def guarded_protocol(max_connections: int, read_timeout_seconds: float) -> type[H11Protocol]:
    """The protocol class for one server (``uvicorn.Config(http=...)``)."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"max_connections": max_connections, "read_timeout_seconds": read_timeout_seconds},
    )
