"""`gatehouse backup FILE`: a copy of a live SQLite database, taken while another thread writes,
restores to a consistent database that opens, passes `PRAGMA integrity_check` and serves."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gatehouse.cli.main import app
from gatehouse.config import Settings
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import open_store
from tests.databases import backend
from tests.server import FAST_ARGON2, TEST_ENCRYPTION_KEY


def _writer(url: str, stop: threading.Event, written: list[int]) -> None:
    """Write numbered events until told to stop, each in its own committed transaction."""
    store = open_store(url, apply_migrations=False)
    try:
        with store.transaction() as tx:
            workspace = store.get_workspace(tx)
        assert workspace is not None
        n = 0
        while not stop.is_set():
            with store.transaction() as tx:
                store.insert_event(
                    tx,
                    {
                        "environment_id": workspace["id"],
                        "actor": "test",
                        "actor_role": None,
                        "action": "test.write",
                        "target": str(n),
                        "changes": {"n": n},
                        "created_at": dt.datetime.now(dt.UTC),
                    },
                )
            n += 1
            written.append(n)
    finally:
        store.close()


@pytest.mark.skipif(backend() != "sqlite", reason="`gatehouse backup` copies SQLite files")
def test_a_backup_taken_while_writing_restores_consistently(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    store = open_store(url)
    Gatehouse(store, Settings(**FAST_ARGON2)).initialise("admin@example.com", "Tests", "Test")
    store.close()
    stop, written = threading.Event(), []
    writer = threading.Thread(target=_writer, args=(url, stop, written))
    writer.start()
    try:
        while len(written) < 20:  # writing for real before the backup starts
            threading.Event().wait(0.01)
        # The live database is in WAL mode: recent commits sit in the -wal file beside it.
        assert (tmp_path / "live.db-wal").exists()
        copy = tmp_path / "backups" / "copy.db"
        result = CliRunner().invoke(app, ["backup", str(copy), "--database-url", url])
        during = len(written)
    finally:
        stop.set()
        writer.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert f"to {copy}" in result.output
    assert not copy.with_name("copy.db.partial").exists()
    with sqlite3.connect(copy) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        (count,) = db.execute("SELECT count(*) FROM events WHERE action = 'test.write'").fetchone()
        rows = db.execute("SELECT target FROM events WHERE action = 'test.write'").fetchall()
    targets = {int(target) for (target,) in rows}
    # A consistent snapshot: a prefix of the writes, with no gap.
    assert 20 <= count <= during + 1
    assert targets == set(range(count))
    # The copy is a database Gatehouse opens and serves from as it is (restore = put it back).
    restored = open_store(f"sqlite:///{copy}")
    try:
        assert restored.schema_at_head()
        with restored.read() as tx:
            assert restored.get_workspace(tx) is not None
    finally:
        restored.close()


def test_backup_refuses_postgresql_and_a_missing_database(tmp_path: Path) -> None:
    runner = CliRunner()
    pg = runner.invoke(
        app,
        ["backup", str(tmp_path / "x.db"), "--database-url", "postgresql+psycopg://u@h/db"],
        # PostgreSQL needs encryption keys (a configuration rule checked first).
        env={"GATEHOUSE_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY},
    )
    assert pg.exit_code == 1 and "pg_dump" in pg.output
    missing = runner.invoke(
        app, ["backup", str(tmp_path / "x.db"), "--database-url", f"sqlite:///{tmp_path}/no.db"]
    )
    assert missing.exit_code == 1 and "there is no database" in missing.output
