"""The HTTP protocol `gatehouse serve` runs: uvicorn's httptools protocol with TCP_NODELAY on
every connection, a deadline for request heads, and a bounded number of connections.

uvicorn binds the listening socket itself when it starts worker processes, without naming
IPPROTO_TCP, so asyncio does not turn Nagle's algorithm off on accepted connections; a kept-alive
client then waits ~40 ms for a delayed ACK on every response. Setting the option per connection
makes one and several workers behave alike.

uvicorn times out idle kept-alive connections (`timeout_keep_alive`) and answers 503 beyond
`limit_concurrency`, but waits forever for a request head that never completes, so a few hundred
silent connections would hold every file descriptor. Here a head must arrive within
`http_header_timeout_seconds` of the connection opening (or of the first byte of a next request),
else the connection is closed; a request beyond `max_connections` is answered by the app's busy
refusal (503 `server_busy` with `Retry-After`, see api/app.py), and a connection beyond it by
`OVERFLOW` is closed at once, so the file descriptors a worker holds stay bounded.

uvicorn writes a response's head and its body with one socket write each; under load the head's
write was a fifth of a worker's time (docs/PERFORMANCE.md, "Where the HTTP time goes"). Each
request's cycle writes through `_JoinedWrites`, which holds the first write back until the next
one (the body, sent in the same step by every Starlette response) or the loop's next turn,
whichever comes first, so a response is one write, and nothing waits longer than a loop turn.

The settings reach each protocol instance through the ASGI lifespan state (api/app.py puts
`HEADER_TIMEOUT` there), so one import string serves one and several workers alike.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, cast

from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from gatehouse.config import SETTINGS, Settings

PROTOCOL = "gatehouse.api.protocol:GatehouseHttpToolsProtocol"
# Lifespan state key of the head deadline, in seconds; scope key of a request over the cap.
HEADER_TIMEOUT = "gatehouse.http_header_timeout"
BUSY = "gatehouse.busy"
# Connections beyond `max_connections` that still get a 503 rather than an immediate close.
OVERFLOW = 32
RETRY_AFTER_SECONDS = 1
_DEFAULT_HEADER_TIMEOUT = SETTINGS["http_header_timeout_seconds"].default


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn options every Gatehouse server runs with (`gatehouse serve`, the tests)."""
    return {
        "http": PROTOCOL,
        "timeout_keep_alive": settings.http_keepalive_timeout_seconds,
        "limit_concurrency": settings.max_connections,
    }


class GatehouseHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = float(self.app_state.get(HEADER_TIMEOUT, _DEFAULT_HEADER_TIMEOUT))
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # the peer already went away
                pass
        super().connection_made(transport)
        cap = self.limit_concurrency
        if cap is not None and len(self.connections) > cap + OVERFLOW:
            transport.close()
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()  # the first byte of a next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        cycle.transport = _JoinedWrites(self.transport, self.loop)  # type: ignore[assignment]
        if app is service_unavailable:
            # Over the cap: the app answers (Stytch's error shape, with Retry-After), doing
            # nothing else for this request.
            cast(dict[str, Any], cycle.scope)[BUSY] = True
            app = self.app
        super()._start_asgi_task(cycle, app)

    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class _JoinedWrites:
    """One cycle's transport: its first write (the response head) is held until the next write
    or the loop's next turn, and sent with it; everything else is the connection's transport."""

    __slots__ = ("_transport", "_loop", "_held", "_first")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._first = True

    def write(self, data: bytes) -> None:
        if self._first:
            self._first = False
            self._held = data
            self._loop.call_soon(self._flush)
            return
        held = self._held
        if held is not None:
            self._held = None
            data = held + data
        self._transport.write(data)

    def _flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
