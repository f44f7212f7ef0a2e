"""A real Gatehouse server on a loopback port, for tests that speak HTTP (the SDKs included).

The server runs uvicorn in a background thread of the test process over a throwaway database, so a
test can both call it over the network and look at the database it writes.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from sqlalchemy import select

from gatehouse.api.app import create_app
from gatehouse.services.gatehouse import Gatehouse
from gatehouse.services.runtime import Settings
from gatehouse.storage import SqlStore, make_engine, migrate
from gatehouse.storage.sql import tables

# Tests hash member passwords with argon2id at a low cost: every sign-in re-hashes, and what the
# tests check does not depend on the cost. Production keeps the RFC 9106 defaults.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}


@dataclass
class RunningServer:
    url: str
    gatehouse: Gatehouse
    credentials: dict[str, Any]
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def project_id(self) -> str:
        return str(self.credentials["test"]["project_id"])

    @property
    def secret(self) -> str:
        return str(self.credentials["test"]["secret"])

    @property
    def live_project_id(self) -> str:
        return str(self.credentials["live"]["project_id"])

    @property
    def live_secret(self) -> str:
        return str(self.credentials["live"]["secret"])

    @property
    def store(self) -> SqlStore:
        return self.gatehouse.store  # type: ignore[return-value]

    def b2b_client(self, project_id: str | None = None, secret: str | None = None) -> Any:
        import stytch

        return stytch.B2BClient(
            project_id or self.project_id, secret or self.secret, environment=self.url + "/"
        )

    def snapshot(self) -> dict[str, list[str]]:
        """Every row of every table, canonically serialised: equal snapshots mean nothing changed."""
        out: dict[str, list[str]] = {}
        with self.store.engine.connect() as conn:
            for table in tables.metadata.sorted_tables:
                rows = conn.execute(select(table)).all()
                out[table.name] = sorted(
                    json.dumps(dict(r._mapping), default=str, sort_keys=True) for r in rows
                )
        return out


def _free_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only then, and
    # without it a kept-alive response waits ~40 ms on the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running_server(database_url: str, **settings: Any) -> Iterator[RunningServer]:
    engine = make_engine(database_url)
    migrate(engine)
    sock = _free_socket()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    gatehouse = Gatehouse(SqlStore(engine), Settings(public_url=url, **settings))
    initialised = gatehouse.tenancy.initialise("admin@example.com", "Tests", "Test project")
    server = uvicorn.Server(
        uvicorn.Config(create_app(gatehouse), log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield RunningServer(url, gatehouse, initialised["project"]["environments"], thread)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        engine.dispose()
