from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gatehouse.storage import SqlStore, make_engine, migrate
from tests.databases import throwaway_database
from tests.server import FAST_ARGON2, RunningServer, running_server


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with throwaway_database(tmp_path) as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    engine = make_engine(database_url)
    migrate(engine)
    yield SqlStore(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real server on a loopback port over its own throwaway database, shared by a module."""
    with (
        throwaway_database(tmp_path_factory.mktemp("db")) as url,
        running_server(url, **FAST_ARGON2) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Like `server`, serving HTTPS with a self-signed certificate (for `stytch-management`)."""
    with (
        throwaway_database(tmp_path_factory.mktemp("db")) as url,
        running_server(url, tls_dir=tmp_path_factory.mktemp("tls"), **FAST_ARGON2) as running,
    ):
        yield running
