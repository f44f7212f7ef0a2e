"""The public surface of `gatehouse.client`: what apps may import and call. A change here is a
change to the SDK's API and should be deliberate."""

from __future__ import annotations

import inspect
import subprocess
import sys

import gatehouse.client as client
from gatehouse.client import (
    AsyncClient,
    Client,
    GatehouseClientError,
    InvalidSessionJWT,
    ServerError,
    TenancyError,
)


def test_all_is_pinned() -> None:
    assert client.__all__ == [
        "AsyncClient",
        "Client",
        "Decision",
        "GatehouseClientError",
        "InvalidSessionJWT",
        "ServerError",
        "TenancyError",
        "VerifiedSession",
    ]
    assert all(hasattr(client, name) for name in client.__all__)


def test_the_exception_tree() -> None:
    for error in (InvalidSessionJWT, TenancyError, ServerError):
        assert issubclass(error, GatehouseClientError)
    assert issubclass(GatehouseClientError, Exception)


PUBLIC = [
    "authorize",
    "check_batch",
    "is_authorized",
    "permissions",
    "policy_version",
    "remote_check_batch",
    "verify_jwt",
    "wait_for_policy_version",
]


def test_both_clients_offer_the_same_methods_with_the_same_parameters() -> None:
    def public(cls: type) -> list[str]:
        return sorted(
            n for n in vars(cls) if not n.startswith("_") and n not in ("close", "aclose")
        )

    assert public(Client) == public(AsyncClient) == PUBLIC
    for name in PUBLIC:
        if name == "policy_version":
            continue
        sync, asynchronous = getattr(Client, name), getattr(AsyncClient, name)
        assert inspect.signature(sync) == inspect.signature(asynchronous), name
        assert inspect.iscoroutinefunction(asynchronous) and not inspect.iscoroutinefunction(sync)
    constructor = inspect.signature(Client)
    assert list(constructor.parameters) == [
        "project_id",
        "secret",
        "base_url",
        "push",
        "poll_seconds",
        "timeout",
        "http",
        "issuer",
        "leeway_seconds",
    ]
    assert constructor.parameters["base_url"].default == "http://127.0.0.1:8080"
    assert constructor.parameters["push"].default is True
    assert constructor.parameters["poll_seconds"].default == 30.0
    assert list(inspect.signature(AsyncClient).parameters) == list(constructor.parameters)


def test_importing_the_client_pulls_in_no_server_code() -> None:
    """Apps install the client next to their own web framework: no server stack comes along."""
    code = (
        "import sys, gatehouse.client; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'uvicorn', 'sqlalchemy', 'alembic', 'psycopg') "
        "or m.startswith(('gatehouse.api', 'gatehouse.services', 'gatehouse.storage'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
