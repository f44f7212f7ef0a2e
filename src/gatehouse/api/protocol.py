"""The HTTP protocol `gatehouse serve` runs: uvicorn's httptools protocol with TCP_NODELAY on
every connection.

uvicorn binds the listening socket itself when it starts worker processes, without naming
IPPROTO_TCP, so asyncio does not turn Nagle's algorithm off on accepted connections; a kept-alive
client then waits ~40 ms for a delayed ACK on every response. Setting the option per connection
makes one and several workers behave alike.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PROTOCOL = "gatehouse.api.protocol:NoDelayHttpToolsProtocol"


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # the peer already went away
                pass
        super().connection_made(transport)
