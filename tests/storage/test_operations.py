"""What operators rely on of the store: readiness (`ping`, `schema_at_head`), the pool gauge, and
migrations that several nodes may start at once."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from gatehouse.storage import SqlStore, make_engine, migrate
from gatehouse.storage.database import alembic_config
from tests.databases import throwaway_database


def test_a_migrated_store_answers_and_is_at_head(store: SqlStore) -> None:
    store.ping()
    assert store.schema_at_head() is True
    assert store.pool_checked_out() == 0
    with store.read():
        assert store.pool_checked_out() == 1
    assert store.pool_checked_out() == 0


def test_an_unmigrated_database_is_not_at_head(tmp_path: Path) -> None:
    with throwaway_database(tmp_path, empty=True) as url:
        engine = make_engine(url)
        try:
            store = SqlStore(engine)
            store.ping()
            assert store.schema_at_head() is False
        finally:
            engine.dispose()


def _migrate(url: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    engine = make_engine(url)
    try:
        barrier.wait(timeout=60)
        migrate(engine)
    finally:
        engine.dispose()


def test_two_nodes_migrating_one_fresh_database_at_once_both_succeed(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    with throwaway_database(tmp_path, empty=True) as url:
        barrier = spawn.Barrier(2)
        nodes = [spawn.Process(target=_migrate, args=(url, barrier)) for _ in range(2)]
        for node in nodes:
            node.start()
        for node in nodes:
            node.join(timeout=120)
        assert [node.exitcode for node in nodes] == [0, 0]
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
            assert [v for (v,) in versions] == list(heads)  # one row: the schema is at head once
            assert SqlStore(engine).schema_at_head()
        finally:
            engine.dispose()
