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
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import select

from gatehouse.api.app import create_app
from gatehouse.api.protocol import PROTOCOL
from gatehouse.config import Settings
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import SqlStore, make_engine, migrate
from gatehouse.storage.sql import tables
from gatehouse.tls import write_self_signed

# Tests hash member passwords with argon2id at a low cost: every sign-in re-hashes, and what the
# tests check does not depend on the cost. Production keeps the RFC 9106 defaults.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}
# Tests send many links to the same few addresses from one client; the tests of these limits
# (tests/api/test_hardening_abuse.py) set their own.
LIFTED_SEND_LIMITS = {"emails_per_address_per_hour": 100_000, "emails_per_client_per_hour": 100_000}
# PostgreSQL needs `encryption_keys` (SQLite tests use the key file generated beside the database).
TEST_ENCRYPTION_KEY = "dGVzdHMtb25seS1lbmNyeXB0aW9uLWtleS0zMi1ieXQ="


@dataclass
class RunningServer:
    url: str
    gatehouse: Gatehouse
    credentials: dict[str, Any]
    management_key: dict[str, str] = field(default_factory=dict)
    project_slug: str = ""
    tls_cert: Path | None = None  # the server's self-signed certificate, when it serves HTTPS

    def management_client(self, key_id: str | None = None, secret: str | None = None) -> Any:
        """The official `stytch-management` client over HTTPS, trusting the test certificate."""
        import requests
        from stytch_management import Client

        assert self.tls_cert is not None, "start the server with tls=True"
        session = requests.Session()
        # REQUESTS_CA_BUNDLE in the environment would override the session's CA otherwise.
        session.trust_env = False
        session.verify = str(self.tls_cert)
        return Client(
            key_id or self.management_key["key_id"],
            secret or self.management_key["secret"],
            base_url=self.url + "/",
            session=session,
        )

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
        # Tests look at the database the server writes; the server's own code never does this.
        return self.gatehouse._store  # type: ignore[return-value]

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
def _serving(gatehouse: Gatehouse, sock: socket.socket, tls: dict[str, Any]) -> Iterator[None]:
    """uvicorn in a thread, with the lifespan on: the node follows the change feed, as served."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(gatehouse),
            http=PROTOCOL,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
            **tls,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not (server.started and gatehouse.runtime.cache.live):
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def running_server(
    database_url: str, *, tls_dir: Path | None = None, **settings: Any
) -> Iterator[RunningServer]:
    """A server over `database_url`; with `tls_dir`, it serves HTTPS with a self-signed
    certificate written there."""
    settings = {"database_url": database_url, **LIFTED_SEND_LIMITS, **settings}
    if not database_url.startswith("sqlite"):
        settings.setdefault("encryption_keys", TEST_ENCRYPTION_KEY)
    engine = make_engine(database_url, settings.get("database_busy_timeout_seconds", 10.0))
    migrate(engine)
    sock = _free_socket()
    port = sock.getsockname()[1]
    tls: dict[str, Any] = {}
    cert = None
    if tls_dir is not None:
        cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
        write_self_signed(cert, key)
        tls = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    gatehouse = Gatehouse(SqlStore(engine), Settings(public_url=url, **settings))
    initialised = gatehouse.initialise("admin@example.com", "Tests", "Test project")
    try:
        with _serving(gatehouse, sock, tls):
            yield RunningServer(
                url,
                gatehouse,
                initialised["project"]["environments"],
                initialised["management_key"],
                initialised["project"]["project_slug"],
                cert,
            )
    finally:
        engine.dispose()


@contextmanager
def another_node(first: RunningServer, **settings: Any) -> Iterator[RunningServer]:
    """A second server process-alike over the same database, as behind a load balancer: its own
    engine, caches and change feed; the same public URL (so the same JWT issuer)."""
    engine = make_engine(first.store.engine.url.render_as_string(hide_password=False))
    sock = _free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    base = first.gatehouse.settings
    gatehouse = Gatehouse(
        SqlStore(engine),
        Settings(
            public_url=base.public_url,
            database_url=base.database_url,
            encryption_keys=base.encryption_keys,
            argon2_time_cost=base.argon2_time_cost,
            argon2_memory_kib=base.argon2_memory_kib,
            argon2_parallelism=base.argon2_parallelism,
            **settings,
        ),
    )
    try:
        with _serving(gatehouse, sock, {}):
            yield RunningServer(url, gatehouse, first.credentials, first.management_key)
    finally:
        engine.dispose()
