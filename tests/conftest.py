from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gatehouse.storage import SqlStore, make_engine
from tests.databases import (
    Snapshot,
    drop_templates,
    ensure_migrated,
    throwaway_database,
    use_template_directory,
)
from tests.server import RunningServer, running_server, wait_for_stopping_servers


@pytest.fixture(scope="session", autouse=True)
def database_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The migrated templates throwaway databases are copied from (tests/databases.py): made on
    first use, dropped when the session ends."""
    use_template_directory(tmp_path_factory.mktemp("template"))
    yield
    drop_templates()


@pytest.fixture(scope="session", autouse=True)
def stopping_servers() -> Iterator[None]:
    """Servers on SQLite stop in the background (tests/server.py); the session waits for them."""
    yield
    wait_for_stopping_servers()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema): for tests of migrations, and of commands run on a new
    database."""
    with throwaway_database(tmp_path, empty=True) as url:
        yield url


@pytest.fixture
def migrated_database_url(tmp_path: Path) -> Iterator[str]:
    """A database at the newest migration (a copy of the session's template)."""
    with throwaway_database(tmp_path) as url:
        yield url


@pytest.fixture
def store(migrated_database_url: str) -> Iterator[SqlStore]:
    engine = make_engine(migrated_database_url)
    ensure_migrated(engine)
    yield SqlStore(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real server on a loopback port over its own throwaway database, shared by a module."""
    with (
        throwaway_database(tmp_path_factory.mktemp("db")) as url,
        running_server(url) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Like `server`, serving HTTPS with a self-signed certificate (for `stytch-management`)."""
    with (
        throwaway_database(tmp_path_factory.mktemp("db")) as url,
        running_server(url, tls_dir=tmp_path_factory.mktemp("tls")) as running,
    ):
        yield running


def pytest_assertrepr_compare(op: str, left: Any, right: Any) -> list[str] | None:
    """`assert snapshot() == before` fails naming the tables that changed."""
    if op == "==" and isinstance(left, Snapshot) and isinstance(right, Snapshot):
        changes = right.changes(left)
        return ["the database changed:"] + [f"  {name}: {how}" for name, how in changes.items()]
    return None
