from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gatehouse.storage import SqlStore, make_engine, migrate
from tests.databases import throwaway_database


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
