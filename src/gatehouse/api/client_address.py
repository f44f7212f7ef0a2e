"""The address of the client that sent a request, for the per-client abuse limits.

It is the peer address uvicorn reports: behind a reverse proxy, uvicorn takes it from
`X-Forwarded-For` only when the proxy is in its `--forwarded-allow-ips` (by default 127.0.0.1),
so a client cannot pick its own address.
"""

from __future__ import annotations

from starlette.requests import Request


def client_address(request: Request) -> str:
    client = request.client
    return client.host if client is not None and client.host else "unknown"
