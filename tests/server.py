"""A real Gatehouse server on a loopback port, for tests that speak HTTP (the SDKs included).

The server runs uvicorn in a background thread of the test process over a throwaway database, so a
test can both call it over the network and look at the database it writes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from gatehouse.api.app import create_app
from gatehouse.api.protocol import uvicorn_options
from gatehouse.config import Settings
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import SqlStore, make_engine
from gatehouse.tls import write_self_signed
from tests.databases import DatabaseSnapshots, Snapshot, ensure_migrated

# Tests hash member passwords with argon2id at a low cost: every sign-in re-hashes, and what the
# tests check does not depend on the cost. Production keeps the RFC 9106 defaults. Every test
# server uses them unless a test passes other argon2 settings.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}
# Tests send many links to the same few addresses from one client; the tests of these limits
# (tests/api/test_hardening_abuse.py) set their own.
LIFTED_SEND_LIMITS = {
    "emails_per_address_per_hour": 100_000,
    "emails_per_client_per_hour": 100_000,
    "texts_per_number_per_hour": 100_000,
}
# The tests' IdPs and OIDC providers listen on loopback, which the outbound guard refuses by
# default (services/outbound.py); the tests of the guard turn it back off.
PRIVATE_OUTBOUND = {"outbound_allow_private_networks": True}
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
    _snapshots: DatabaseSnapshots | None = field(default=None, repr=False)

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

    def snapshot(self, *, rows_of: tuple[str, ...] = ()) -> Snapshot:
        """Every row of every table in the database, as a count and a digest per table computed by
        the database: equal snapshots mean nothing changed. The rows of the tables in `rows_of`
        come too, canonically serialised (`Snapshot.rows`), for tests that look at what was
        added."""
        if self._snapshots is None:
            self._snapshots = DatabaseSnapshots(
                self.store.engine.url.render_as_string(hide_password=False)
            )
        return self._snapshots.take(rows_of=rows_of)

    def close(self) -> None:
        if self._snapshots is not None:
            self._snapshots.close()
            self._snapshots = None


def _free_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only then, and
    # without it a kept-alive response waits ~40 ms on the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class _Serving:
    """uvicorn in a thread, with the lifespan on: the node follows the change feed, as served."""

    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket

    @classmethod
    def start(cls, gatehouse: Gatehouse, sock: socket.socket, tls: dict[str, Any]) -> _Serving:
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(gatehouse),
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=1,
                **uvicorn_options(gatehouse.settings),
                **tls,
            )
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        serving = cls(server, thread, sock)
        thread.start()
        deadline = time.monotonic() + 15
        while not (server.started and gatehouse.runtime.cache.live):
            if time.monotonic() > deadline or not thread.is_alive():
                serving.stop()
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return serving

    def stop(self) -> None:
        """Stop, and wait until stopped: uvicorn takes 0.1-0.2 s of polling and grace for it."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


# Servers over a SQLite throwaway database stop in the background while the next test runs: nothing
# else uses that database, and stopping is mostly uvicorn waiting. (A PostgreSQL database is dropped
# right after its server, so that server stops first.) The session waits for them at its end.
_stopping: list[threading.Thread] = []
_stop_failures: list[BaseException] = []


def _stop_in_background(stop: Callable[[], None]) -> None:
    def run() -> None:
        try:
            stop()
        except BaseException as failure:  # reported at the end of the session
            _stop_failures.append(failure)

    _stopping[:] = [t for t in _stopping if t.is_alive()]
    thread = threading.Thread(target=run, name="test-server-stop", daemon=True)
    thread.start()
    _stopping.append(thread)


def wait_for_stopping_servers() -> None:
    """Wait for the servers stopping in the background; raise if one failed to."""
    while _stopping:
        _stopping.pop().join(timeout=30)
    if _stop_failures:
        failures, _stop_failures[:] = list(_stop_failures), []
        raise RuntimeError(f"test servers failed to stop: {failures!r}") from failures[0]


@contextmanager
def running_server(
    database_url: str, *, tls_dir: Path | None = None, **settings: Any
) -> Iterator[RunningServer]:
    """A server over `database_url` (migrated here unless it already is at the newest revision,
    as throwaway databases are); with `tls_dir`, it serves HTTPS with a self-signed certificate
    written there. The argon2 settings are FAST_ARGON2 unless `settings` names others."""
    settings = {
        "database_url": database_url,
        **FAST_ARGON2,
        **LIFTED_SEND_LIMITS,
        **PRIVATE_OUTBOUND,
        **settings,
    }
    if not database_url.startswith("sqlite"):
        settings.setdefault("encryption_keys", TEST_ENCRYPTION_KEY)
    engine = make_engine(database_url, settings.get("database_busy_timeout_seconds", 10.0))
    ensure_migrated(engine)
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
    try:
        initialised = gatehouse.initialise("admin@example.com", "Tests", "Test project")
        serving = _Serving.start(gatehouse, sock, tls)
    except BaseException:
        sock.close()
        engine.dispose()
        raise
    running = RunningServer(
        url,
        gatehouse,
        initialised["project"]["environments"],
        initialised["management_key"],
        initialised["project"]["project_slug"],
        cert,
    )

    def stop() -> None:
        serving.stop()
        engine.dispose()

    try:
        yield running
    finally:
        running.close()
        if engine.dialect.name == "sqlite":
            _stop_in_background(stop)
        else:
            stop()


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
            encryption_keys=settings.pop("encryption_keys", base.encryption_keys),
            argon2_time_cost=base.argon2_time_cost,
            argon2_memory_kib=base.argon2_memory_kib,
            argon2_parallelism=base.argon2_parallelism,
            **settings,
        ),
    )
    try:
        serving = _Serving.start(gatehouse, sock, {})
    except BaseException:
        sock.close()
        engine.dispose()
        raise
    running = RunningServer(url, gatehouse, first.credentials, first.management_key)
    try:
        yield running
    finally:
        running.close()
        serving.stop()
        engine.dispose()
